#!/usr/bin/env bash
# Starts, stops and inspects a local raftkv cluster on 127.0.0.1.
#
#   scripts/cluster.sh start        start the cluster's nodes (at first 1-3: peer
#                                   ports 12379/22379/32379, client ports
#                                   12380/22380/32380) in the background
#   scripts/cluster.sh start N...   start node N (N > 3: with --join, after
#                                   `curl -XPOST http://127.0.0.1:12380/N -d
#                                   http://127.0.0.1:N2379` on a member), ports
#                                   N2379/N2380; it is part of the cluster from then on
#   scripts/cluster.sh stop         stop them (SIGTERM, then SIGKILL after 10 s)
#   scripts/cluster.sh status       show which nodes run, which left, and who leads
#   scripts/cluster.sh clean        stop and delete all data and logs
#
# A node removed from the cluster (DELETE /N) is never started again: the
# script asks a running member for the membership (GET /v1/members) and
# remembers removed ids in $dir/removed, since ids are never reused.
#
# Data, logs, pid files, the node list (nodes) and the removed ids (removed)
# live under $RAFTKV_CLUSTER_DIR (default .cluster). Uses the compiled binary
# dist/raftkv when present, else `deno run main.ts`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${RAFTKV_CLUSTER_DIR:-$root/.cluster}
deno_bin=${DENO_BIN:-deno}

# The V8 flags of deno.json's start task (README, "Memory"); a compiled
# binary has them built in.
v8_flags=$(grep -o -- '"start": "deno run [^"]*' "$root/deno.json" | grep -o -- '--v8-flags=[^ ]*' || true)

node_cmd() {
  if [ -x "$root/dist/raftkv" ]; then
    echo "$root/dist/raftkv"
  else
    echo "$deno_bin run --allow-net --allow-read --allow-write --allow-env ${v8_flags:+$v8_flags }$root/main.ts"
  fi
}

url_of() { echo "http://127.0.0.1:${1}2379"; }
client_of() { echo "http://127.0.0.1:${1}2380"; }
pid_of() { cat "$dir/node$1.pid" 2>/dev/null || true; }
# Whether process $1 lives (a killed one not yet reaped, a zombie, does not).
alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }
running() { local p; p=$(pid_of "$1"); [ -n "$p" ] && alive "$p"; }
# The nodes this cluster has had (started by this script), ascending.
nodes() { if [ -f "$dir/nodes" ]; then sort -n -u "$dir/nodes"; else printf '1\n2\n3\n'; fi; }
is_removed() { [ -f "$dir/removed" ] && grep -qx "$1" "$dir/removed"; }
# Nodes 1-3 are members from the start; a later one once a member listed it.
was_member() { [ "$1" -le 3 ] || { [ -f "$dir/seen" ] && grep -qx "$1" "$dir/seen"; }; }

# --cluster for node $1: nodes 1-3 bootstrap with three URLs; a node that
# joins later lists every URL up to its own (node N's is the N-th entry).
cluster_of() {
  local last=3 urls="" i
  [ "$1" -gt 3 ] && last=$1
  for i in $(seq 1 "$last"); do urls="$urls${urls:+,}$(url_of "$i")"; done
  echo "$urls"
}

# Asks the running nodes for the membership; records every node of the list
# that was a member and is not any more as removed. Prints the leader's id
# (0: none known, or no node answered).
refresh_membership() {
  local id n body members
  for id in $(nodes); do
    running "$id" || continue
    body=$(curl -fsS --max-time 2 "$(client_of "$id")/v1/members" 2>/dev/null) || continue
    members=$(echo "$body" | grep -o '"id":[0-9]*' | cut -d: -f2)
    for n in $(nodes); do
      if echo "$members" | grep -qx "$n"; then
        was_member "$n" || echo "$n" >>"$dir/seen"
      elif was_member "$n" && ! is_removed "$n"; then
        echo "$n" >>"$dir/removed"
      fi
    done
    echo "$body" | grep -o '"leader":[0-9]*' | cut -d: -f2
    return 0
  done
  echo 0
}

start() {
  mkdir -p "$dir"
  [ -f "$dir/nodes" ] || printf '1\n2\n3\n' >"$dir/nodes"
  local ids id cmd
  if [ $# -gt 0 ]; then
    ids="$*"
    for id in $ids; do
      if ! [[ "$id" =~ ^[1-9]$ ]]; then echo "node ids are 1 to 9 here, not $id" >&2; exit 2; fi
      grep -qx "$id" "$dir/nodes" || echo "$id" >>"$dir/nodes"
    done
  else
    ids=$(nodes)
  fi
  refresh_membership >/dev/null
  cmd=$(node_cmd)
  local started=""
  for id in $ids; do
    if is_removed "$id"; then echo "node $id was removed from the cluster: not started (ids are never reused)"; continue; fi
    if running "$id"; then echo "node $id already running (pid $(pid_of "$id"))"; started="$started $id"; continue; fi
    local join=""
    [ "$id" -gt 3 ] && join=--join
    # shellcheck disable=SC2086
    nohup $cmd --id "$id" --cluster "$(cluster_of "$id")" --port "${id}2380" \
      --data-dir "$dir/raftkv-$id" $join >>"$dir/node$id.log" 2>&1 &
    echo $! >"$dir/node$id.pid"
    echo "node $id started (pid $!, log $dir/node$id.log)"
    started="$started $id"
  done
  [ -n "$started" ] || return 0
  echo "waiting for a leader..."
  for _ in $(seq 1 100); do
    local ok=1
    for id in $started; do
      curl -fsS --max-time 2 "$(client_of "$id")/health" >/dev/null 2>&1 || ok=0
    done
    if [ "$ok" = 1 ]; then
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
    for id in $started; do
      if ! running "$id"; then
        echo "node $id exited; the end of $dir/node$id.log:" >&2
        tail -n 3 "$dir/node$id.log" >&2
        return 1
      fi
    done
    sleep 0.2
  done
  echo "no leader after 20 s; see the logs in $dir" >&2
  return 1
}

stop() {
  local id p
  for id in $(nodes); do
    p=$(pid_of "$id")
    if [ -n "$p" ] && alive "$p"; then
      kill -TERM "$p" 2>/dev/null || true
      for _ in $(seq 1 50); do alive "$p" || break; sleep 0.2; done
      alive "$p" && kill -KILL "$p" 2>/dev/null || true
      echo "node $id stopped"
    fi
    rm -f "$dir/node$id.pid"
  done
}

status() {
  local leader id s
  leader=$(refresh_membership)
  for id in $(nodes); do
    if is_removed "$id"; then
      echo "node $id: removed from the cluster$(running "$id" && echo " (pid $(pid_of "$id") still running)")"
    elif running "$id"; then
      s=$(curl -fsS --max-time 2 "$(client_of "$id")/v1/status" 2>/dev/null || echo '{}')
      echo "node $id: running (pid $(pid_of "$id"))$([ "$id" = "$leader" ] && echo ", leader") $s"
    else
      echo "node $id: stopped"
    fi
  done
}

action=${1:-start}
[ $# -gt 0 ] && shift
case "$action" in
  start) start "$@" ;;
  stop) stop ;;
  status) status ;;
  clean) stop; rm -rf "$dir"; echo "removed $dir" ;;
  *) echo "usage: $0 start [ID...]|stop|status|clean" >&2; exit 2 ;;
esac
