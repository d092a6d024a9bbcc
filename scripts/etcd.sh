#!/usr/bin/env bash
# Starts or stops a throwaway etcd for tests: own data dir, loopback port.
#   scripts/etcd.sh start [dir]   → prints NSM_REGISTRY_STORE=etcd://127.0.0.1:PORT; pid in dir/etcd.pid
#   scripts/etcd.sh stop  [dir]   → kills it and removes dir
set -euo pipefail
cmd=${1:-}; dir=${2:-${TMPDIR:-/tmp}/nsm-etcd}
etcd=${NSM_ETCD_BIN:-/usr/bin/etcd}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
case "$cmd" in
  start)
    mkdir -p "$dir"
    if [[ -f "$dir/etcd.pid" ]] && kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null; then
      echo "NSM_REGISTRY_STORE=etcd://$(cat "$dir/etcd.addr")"; exit 0
    fi
    cport=$(free_port); pport=$(free_port)
    "$etcd" --name t --data-dir "$dir/data" \
      --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
      --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
      --initial-cluster "t=http://127.0.0.1:$pport" --log-level error --logger zap >"$dir/etcd.log" 2>&1 &
    echo $! >"$dir/etcd.pid"; echo "127.0.0.1:$cport" >"$dir/etcd.addr"
    for _ in $(seq 1 200); do
      if curl -fsS "http://127.0.0.1:$cport/health" 2>/dev/null | grep -q '"health":"true"'; then
        echo "NSM_REGISTRY_STORE=etcd://127.0.0.1:$cport"; exit 0
      fi
      kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || { cat "$dir/etcd.log" >&2; exit 1; }
      sleep 0.1
    done
    echo "etcd did not become healthy (log: $dir/etcd.log)" >&2; exit 1 ;;
  stop)
    if [[ -f "$dir/etcd.pid" ]]; then
      pid=$(cat "$dir/etcd.pid"); kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir" ;;
  *) echo "usage: $0 start|stop [dir]" >&2; exit 2 ;;
esac
