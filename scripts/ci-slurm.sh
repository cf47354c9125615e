#!/usr/bin/env bash
# What the slurm runtime's tests need, for CI (and any fresh machine, as root): a one-node Slurm
# cluster on this machine. Debian's slurm-wlm and munge (installed when missing), a munge key, a
# slurm.conf for localhost with one partition, then munged, slurmctld and slurmd started in the
# background when `sinfo` does not answer; it waits until the node is idle. A second run finds
# the cluster answering and only says so. Prints how long each part took.
set -euo pipefail

t0=$SECONDS
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
NODE=$(hostname -s)
# More CPUs than the machine has (slurmd is told to believe its config): several small jobs fit
# at once, and a test fills the node by asking for all of them.
CPUS=4
MEMORY_MB=8192

missing=()
{ command -v sbatch && command -v slurmctld && command -v slurmd; } >/dev/null ||
    missing+=(slurm-wlm)
command -v munged >/dev/null || missing+=(munge)
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    echo "slurm: installed ${missing[*]} in $((SECONDS - t0)) s"
fi

node_idle() {
    [[ $(sinfo -h -n "$NODE" -o %T 2>/dev/null) =~ ^(idle|mixed|allocated)$ ]]
}

if node_idle; then
    echo "slurm: cluster answers, node $NODE ready in $((SECONDS - t0)) s"
    exit 0
fi

mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd /etc/munge /run/munge \
    /var/lib/munge /var/log/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key

# No cgroups (a container may not let slurmd make them): processes are tracked by their parent
# links, and tasks are not bound to CPUs. Ended jobs stay visible to scontrol for 10 minutes,
# so that a run's end can be told by Slurm's reason without an accounting database. A job that
# asks for no memory gets 512 MB a CPU, not the whole node.
cat >"$CONF_DIR/slurm.conf" <<EOF
ClusterName=mletui
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
DefMemPerCPU=512
MinJobAge=600
InactiveLimit=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# No systemd here: each daemon runs in the background, in a session of its own.
if ! pgrep -x munged >/dev/null; then
    setsid runuser -u munge -- munged --force </dev/null >/dev/null 2>&1
fi
if ! pgrep -x slurmctld >/dev/null; then
    setsid slurmctld -c </dev/null >/dev/null 2>&1
fi
if ! pgrep -x slurmd >/dev/null; then
    setsid slurmd </dev/null >/dev/null 2>&1
fi
for _ in $(seq 1 120); do
    node_idle && break
    # A node left down by an earlier cluster (killed daemons) is put back to service.
    if [[ $(sinfo -h -n "$NODE" -o %T 2>/dev/null) =~ ^(down|drain) ]]; then
        scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    fi
    sleep 0.5
done
if ! node_idle; then
    echo "slurm: node $NODE did not become idle; the daemons' logs:" >&2
    tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
    exit 1
fi
echo "slurm: $(sinfo --version), node $NODE ($CPUS CPUs) idle in $((SECONDS - t0)) s"
