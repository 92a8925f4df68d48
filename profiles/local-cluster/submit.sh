#!/usr/bin/env bash
# A local stand-in for a batch scheduler's submit command (qsub, bsub, sbatch --parsable): start the job script
# Snakemake wrote in the background, detached from this shell, and print the job id (here: its process id).
# The exit code of the job is kept in .snakemake/local-cluster/<id>.exit for status.sh.
set -euo pipefail
jobscript="$1"
spool=".snakemake/local-cluster"
mkdir -p "$spool"
name="$(basename "$jobscript" .sh)"
nohup setsid bash -c 'bash "$1" > "$2.out" 2>&1; echo $? > "$2.exit.tmp"; mv "$2.exit.tmp" "$2.exit"' \
    _ "$jobscript" "$spool/$name" > /dev/null 2>&1 &
pid=$!
ln -sf "$name.exit" "$spool/$pid.exit"
ln -sf "$name.out" "$spool/$pid.out"
echo "$pid"
