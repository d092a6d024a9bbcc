#!/usr/bin/env bash
# Starts or stops a private Open vSwitch (ovsdb-server + ovs-vswitchd, userspace datapath) whose
# db, sockets, pid and log files all live in <dir>; nothing touches the system instance.
#   scripts/ovs.sh start <dir> [netns]  → prints OVS_DB=unix:<dir>/db.sock and OVS_RUNDIR=<dir>
#                                        (bridge OpenFlow sockets: <dir>/<bridge>.mgmt).
#                                        With netns, ovs-vswitchd runs inside it (created if
#                                        missing, then deleted by stop): bridge taps stay there.
#   scripts/ovs.sh stop <dir>          → deletes the bridges, kills both daemons by pid, removes
#                                        the netns it created and <dir>
# Use: ovs-vsctl --db=unix:<dir>/db.sock show; OVS_RUNDIR=<dir> ovs-ofctl -O OpenFlow13 dump-flows BR
# Root only. The test suite uses test/helpers/ovs.ts (same layout, foreground children).
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start|stop <dir> [netns]" >&2; exit 2; }
export OVS_RUNDIR="$dir" OVS_DBDIR="$dir" OVS_LOGDIR="$dir" OVS_SYSCONFDIR="$dir"
db="unix:$dir/db.sock"
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_file() { for _ in $(seq 1 200); do [[ -e "$1" ]] && return 0; sleep 0.05; done; echo "$1 did not appear (logs in $dir)" >&2; return 1; }
stop_pid() {
  local f=$1; [[ -f "$f" ]] || return 0
  local pid; pid=$(cat "$f"); kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
}
case "$cmd" in
  start)
    mkdir -p "$dir"; dir=$(cd "$dir" && pwd); export OVS_RUNDIR="$dir" OVS_DBDIR="$dir" OVS_LOGDIR="$dir" OVS_SYSCONFDIR="$dir"; db="unix:$dir/db.sock"
    if alive "$dir/ovsdb-server.pid"; then echo "already running in $dir" >&2; else
      [[ -f "$dir/conf.db" ]] || ovsdb-tool create "$dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema
      ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" --pidfile="$dir/ovsdb-server.pid" \
        --unixctl="$dir/ovsdb-server.ctl" --log-file="$dir/ovsdb-server.log" --detach 2>/dev/null
      wait_file "$dir/db.sock"
      ovs-vsctl --db="$db" --no-wait init
      # read by vswitchd at start only; TCP between veth ports of the userspace datapath needs it
      ovs-vsctl --db="$db" --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true
    fi
    if ! alive "$dir/ovs-vswitchd.pid"; then
      run=()
      if [[ -n "${3:-}" ]]; then
        if ! ip netns list | grep -qw "$3"; then ip netns add "$3"; echo "$3" >"$dir/netns.created"; fi
        ip -n "$3" link set lo up
        run=(ip netns exec "$3")
      fi
      "${run[@]}" ovs-vswitchd "$db" --pidfile="$dir/ovs-vswitchd.pid" --unixctl="$dir/ovs-vswitchd.ctl" \
        --log-file="$dir/ovs-vswitchd.log" --detach 2>/dev/null
      wait_file "$dir/ovs-vswitchd.ctl"
    fi
    echo "OVS_DB=$db"; echo "OVS_RUNDIR=$dir" ;;
  stop)
    [[ -d "$dir" ]] || exit 0
    if alive "$dir/ovsdb-server.pid" && alive "$dir/ovs-vswitchd.pid"; then
      # bridges' taps are persistent: have vswitchd remove them before it goes
      for br in $(ovs-vsctl --db="$db" --timeout=5 list-br 2>/dev/null); do ovs-vsctl --db="$db" --timeout=5 del-br "$br" || true; done
    fi
    stop_pid "$dir/ovs-vswitchd.pid"
    stop_pid "$dir/ovsdb-server.pid"
    if [[ -f "$dir/netns.created" ]]; then ip netns del "$(cat "$dir/netns.created")" 2>/dev/null || true; fi
    rm -rf "$dir" ;;
  *) echo "usage: $0 start|stop <dir> [netns]" >&2; exit 2 ;;
esac
