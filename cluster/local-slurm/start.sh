#!/usr/bin/env bash
# Start a one-node SLURM (munged + slurmctld + slurmd) on localhost, everything under one directory.
#
#   cluster/local-slurm/start.sh [BASE]      BASE defaults to $REEFDASK_SLURM_BASE or /tmp/reefdask-slurm
#   . BASE/env                               exports SLURM_CONF (and REEFDASK_SLURM_BASE) for clients
#   cluster/local-slurm/stop.sh [BASE]
#
# Nothing is written outside BASE: no /etc/slurm, no system munge. The node offers every CPU of the
# machine, 90 % of its memory and two fake GPUs (character devices made with mknod, AutoDetect=off)
# so that `--gres=gpu:1` jobs schedule and get CUDA_VISIBLE_DEVICES. Runs as root (CI does).
# Idempotent: if the daemons of BASE are already up it only waits for the node to be idle.
# See ../../docs and /work/shared/recipes/local-slurm.md for why each line is here.
set -euo pipefail

BASE="${1:-${REEFDASK_SLURM_BASE:-/tmp/reefdask-slurm}}"
CTLD_PORT="${REEFDASK_SLURM_PORT:-6817}"
SLURMD_PORT=$((CTLD_PORT + 1))
PARTITION="${REEFDASK_SLURM_PARTITION:-debug}"

for exe in munged slurmctld slurmd sinfo; do
  command -v "$exe" >/dev/null || { echo "local-slurm: $exe not found: run cluster/local-slurm/install.sh" >&2; exit 1; }
done

mkdir -p "$BASE"/{munge,state,spool,run,log,dev,jobs}
BASE="$(cd "$BASE" && pwd)"
chmod 700 "$BASE/munge"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# ---- config -------------------------------------------------------------------------------
CPUS="$(nproc)"
MEM_MB="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
for i in 0 1; do
  dev="$BASE/dev/nvidia$i"
  [ -c "$dev" ] || { rm -f "$dev"; mknod "$dev" c 1 $((3 + 2 * i)); }   # /dev/null and /dev/zero numbers
done

cat > "$BASE/slurm.conf" <<CONF
ClusterName=reefdask
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$BASE/munge/munge.socket.2
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SlurmdTimeout=300
InactiveLimit=0
KillWait=5
MinJobAge=60
DefMemPerCPU=1000
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

cat > "$BASE/gres.conf" <<CONF
AutoDetect=off
NodeName=localhost Name=gpu File=$BASE/dev/nvidia[0-1]
CONF

cat > "$BASE/env" <<ENV
export SLURM_CONF=$BASE/slurm.conf
export REEFDASK_SLURM_BASE=$BASE
ENV
export SLURM_CONF="$BASE/slurm.conf"

# ---- daemons ------------------------------------------------------------------------------
if ! alive "$BASE/munge/munged.pid"; then
  [ -s "$BASE/munge/munge.key" ] || { head -c 1024 /dev/urandom > "$BASE/munge/munge.key"; chmod 400 "$BASE/munge/munge.key"; }
  munged --force --socket="$BASE/munge/munge.socket.2" --key-file="$BASE/munge/munge.key" \
    --log-file="$BASE/munge/munged.log" --pid-file="$BASE/munge/munged.pid" \
    --seed-file="$BASE/munge/munged.seed"
fi
if ! alive "$BASE/run/slurmctld.pid"; then
  slurmctld -f "$BASE/slurm.conf"
fi
if ! alive "$BASE/run/slurmd.pid"; then
  slurmd -f "$BASE/slurm.conf" -N localhost
fi

# ---- wait until the node takes jobs ---------------------------------------------------------
state=""
for _ in $(seq 1 100); do
  state="$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)"
  case "$state" in
    idle|mix|alloc) break ;;
    drain*|inval*|down*)
      # a node state kept in StateSaveLocation from an earlier bad start: take it back
      scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
case "$state" in
  idle|mix|alloc) echo "local-slurm: up (node localhost $state, $CPUS CPUs, ${MEM_MB} MB, gpu:2) in $BASE; . $BASE/env" ;;
  *) echo "local-slurm: node did not become idle (state '${state:-none}'); logs in $BASE/log" >&2
     tail -n 20 "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log" >&2 || true
     exit 1 ;;
esac
