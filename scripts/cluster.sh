#!/usr/bin/env bash
# Starts, stops and inspects a local three-node raftkv cluster on 127.0.0.1.
#
#   scripts/cluster.sh start    start nodes 1-3 (peer ports 12379/22379/32379,
#                               client ports 12380/22380/32380) in the background
#   scripts/cluster.sh stop     stop them (SIGTERM, then SIGKILL after 10 s)
#   scripts/cluster.sh status   show which nodes run and who leads
#   scripts/cluster.sh clean    stop and delete all data and logs
#
# Data, logs and pid files live under $RAFTKV_CLUSTER_DIR (default .cluster).
# Uses the compiled binary dist/raftkv when present, else `deno run main.ts`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${RAFTKV_CLUSTER_DIR:-$root/.cluster}
cluster=http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379
deno_bin=${DENO_BIN:-deno}

node_cmd() {
  if [ -x "$root/dist/raftkv" ]; then
    echo "$root/dist/raftkv"
  else
    echo "$deno_bin run --allow-net --allow-read --allow-write --allow-env $root/main.ts"
  fi
}

pid_of() { cat "$dir/node$1.pid" 2>/dev/null || true; }
running() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start() {
  mkdir -p "$dir"
  local cmd; cmd=$(node_cmd)
  for id in 1 2 3; do
    if running "$id"; then echo "node $id already running (pid $(pid_of "$id"))"; continue; fi
    # shellcheck disable=SC2086
    nohup $cmd --id "$id" --cluster "$cluster" --port "${id}2380" \
      --data-dir "$dir/raftkv-$id" >>"$dir/node$id.log" 2>&1 &
    echo $! >"$dir/node$id.pid"
    echo "node $id started (pid $!, log $dir/node$id.log)"
  done
  echo "waiting for a leader..."
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:12380/health" >/dev/null 2>&1; then
      status
      cat <<'USAGE'

Try:
  curl -L http://127.0.0.1:12380/my-key -XPUT -d bar
  curl -L http://127.0.0.1:32380/my-key
  curl -s http://127.0.0.1:12380/v1/members
Stop with: scripts/cluster.sh stop   (or: deno task cluster:stop)
USAGE
      return 0
    fi
    sleep 0.2
  done
  echo "no leader after 20 s; see the logs in $dir" >&2
  return 1
}

stop() {
  for id in 1 2 3; do
    local p; p=$(pid_of "$id")
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
      echo "node $id stopped"
    fi
    rm -f "$dir/node$id.pid"
  done
}

status() {
  for id in 1 2 3; do
    if running "$id"; then
      local s; s=$(curl -fsS --max-time 2 "http://127.0.0.1:${id}2380/v1/status" 2>/dev/null || echo '{}')
      echo "node $id: running (pid $(pid_of "$id")) $s"
    else
      echo "node $id: stopped"
    fi
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  clean) stop; rm -rf "$dir"; echo "removed $dir" ;;
  *) echo "usage: $0 start|stop|status|clean" >&2; exit 2 ;;
esac
