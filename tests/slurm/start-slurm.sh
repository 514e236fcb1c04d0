#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine for the tests (as root, no systemd,
# no cgroups): munged, slurmctld and slurmd for one node "localhost" in partition "debug",
# without accounting (so Snakemake polls job states with squeue). Installs the Debian
# packages it needs when they are missing. Idempotent: a running cluster is restarted.
#
#     bash tests/slurm/start-slurm.sh      then   sinfo        # one idle node
#     bash tests/slurm/stop-slurm.sh
set -euo pipefail

state=/var/lib/cmsm-slurm
logs=/var/log/cmsm-slurm
conf=/etc/slurm/slurm.conf
say() { echo "[slurm] $*"; }

need=""
for pkg in munge slurmctld slurmd slurm-client; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || need="$need $pkg"
done
if [ -n "$need" ]; then
  say "installing$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $need > /tmp/cmsm-slurm-apt.log 2>&1 \
    || { tail -20 /tmp/cmsm-slurm-apt.log; exit 1; }
fi

bash "$(dirname "$0")/stop-slurm.sh" > /dev/null 2>&1 || true
mkdir -p "$state/ctld" "$state/spool" "$logs" /etc/slurm

# munge: a key, then the daemon as its own user
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2> /dev/null | unmunge > /dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2> /dev/null | unmunge > /dev/null 2>&1 && break; sleep 0.1; done
fi

cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
cat > "$conf" <<CONF
ClusterName=cmsm
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
ReturnToService=2
# squeue shows finished jobs for MinJobAge seconds: long enough for Snakemake to see them
MinJobAge=600
KillWait=5
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld
slurmd -N localhost
for _ in $(seq 100); do
  node=$(sinfo -h -n localhost -o %T 2> /dev/null || true)
  case "$node" in
    idle*|mixed*|alloc*) break ;;
    down*|drain*) scontrol update nodename=localhost state=resume > /dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
sinfo -h -n localhost -o %T | grep -Eq 'idle|mixed|alloc' || {
  echo "the node did not become idle" >&2; sinfo -N -l >&2 || true
  tail -20 "$logs/slurmctld.log" "$logs/slurmd.log" >&2; exit 1; }
sbatch --wait --quiet -o /dev/null --wrap true
say "up: $(sinfo -h -o '%P %D node, %c cpus, %m MB, %T')"
