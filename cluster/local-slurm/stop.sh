#!/usr/bin/env bash
# Stop the one-node SLURM started by start.sh: cancel its jobs, then stop slurmd, slurmctld and
# munged by the pids in their pid files (never by name). Keeps BASE (logs, state) unless --wipe.
#
#   cluster/local-slurm/stop.sh [BASE] [--wipe]
set -uo pipefail

WIPE=0
ARGS=()
for a in "$@"; do
  if [ "$a" = "--wipe" ]; then WIPE=1; else ARGS+=("$a"); fi
done
BASE="${ARGS[0]:-${REEFDASK_SLURM_BASE:-/tmp/reefdask-slurm}}"
[ -d "$BASE" ] || { echo "local-slurm: nothing to stop in $BASE"; exit 0; }
BASE="$(cd "$BASE" && pwd)"
export SLURM_CONF="$BASE/slurm.conf"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {  # stop_pidfile NAME PIDFILE: SIGTERM, wait up to 10 s, then SIGKILL
  local name="$1" file="$2" pid
  alive "$file" || return 0
  pid="$(cat "$file")"
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { echo "local-slurm: stopped $name ($pid)"; rm -f "$file"; return 0; }; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null
  echo "local-slurm: killed $name ($pid) after 10 s"
  rm -f "$file"
}

# jobs first, while slurmctld and slurmd can still end their steps (linuxproc does not reap them otherwise)
if alive "$BASE/run/slurmctld.pid"; then
  jobs="$(squeue -h -o %i 2>/dev/null || true)"
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 1 75); do
      [ -z "$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
    echo "local-slurm: cancelled jobs $(echo $jobs | tr '\n' ' ')"
  fi
fi

stop_pidfile slurmd "$BASE/run/slurmd.pid"
stop_pidfile slurmctld "$BASE/run/slurmctld.pid"
stop_pidfile munged "$BASE/munge/munged.pid"

if [ "$WIPE" = 1 ]; then
  rm -rf "$BASE"
  echo "local-slurm: removed $BASE"
fi
