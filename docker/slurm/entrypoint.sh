#!/bin/sh
# Start munge, then the SLURM daemon this container plays ($1: slurmctld or slurmd).
set -e
runuser -u munge -- munged --force
case "$1" in
  slurmctld) exec slurmctld -D -c ;;
  slurmd)    exec slurmd -D -N "$(hostname)" ;;
  *)         exec "$@" ;;
esac
