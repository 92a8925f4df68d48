#!/usr/bin/env bash
# Job status for Snakemake's generic cluster executor: prints exactly one of running / success / failed.
spool=".snakemake/local-cluster"
jobid="$1"
finished() { [[ -e "$spool/$jobid.exit" ]]; }
if ! finished && kill -0 "$jobid" 2> /dev/null; then
    echo running
elif finished; then   # (checked again: the job may have ended between the two tests)
    [[ "$(cat "$spool/$jobid.exit")" == "0" ]] && echo success || echo failed
else
    echo failed       # vanished without an exit code (killed)
fi
