#!/usr/bin/env bash
# Install Debian's SLURM (slurm-wlm, Slurm 22.05) and munge for the one-node test cluster.
# Needs root (CI runs as root). Idempotent: does nothing when the daemons are already installed.
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
   && command -v sbatch >/dev/null; then
  echo "local-slurm: slurm-wlm and munge already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q slurm-wlm munge
