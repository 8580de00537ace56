#!/usr/bin/env bash
# Stop the daemons tests/cluster/slurm-up.sh started, by their pid files (never by name: a
# developer machine may run other daemons).
set -u
for f in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  if [ -s "$f" ]; then
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
done
exit 0
