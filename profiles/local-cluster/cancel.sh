#!/usr/bin/env bash
# Cancel jobs (Snakemake passes one or more job ids): terminate each job's process group.
for jobid in "$@"; do
    kill -TERM -- "-$jobid" 2> /dev/null || kill -TERM "$jobid" 2> /dev/null || true
done
