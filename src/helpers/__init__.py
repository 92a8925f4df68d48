"""Helpers for the MBPM report."""
