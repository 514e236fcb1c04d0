#!/usr/bin/env bash
# Stop the test cluster started by start-slurm.sh (by pid file, never by process name).
state=/var/lib/cmsm-slurm
for name in slurmd slurmctld; do
  pidfile="$state/$name.pid"
  [ -s "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2> /dev/null || true
  for _ in $(seq 50); do
    # a zombie (not reaped in some containers) counts as stopped
    status=$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2> /dev/null || true)
    [ -z "$status" ] || [ "$status" = Z ] && break
    sleep 0.1
  done
  rm -f "$pidfile"
done
