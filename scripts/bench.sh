#!/usr/bin/env bash
# Side-by-side benchmark: a three-node raftkv cluster against a three-node
# etcd 3.4 cluster (v2 API), both on 127.0.0.1, driven by the same load
# generator (wrk, one thread, Lua scripts in scripts/bench/). See
# docs/PERFORMANCE.md for the method and the latest numbers.
#
#   scripts/bench.sh                 full run: 10 s per workload, 3 rounds, medians
#   scripts/bench.sh --quick         5 s per workload, 1 round
#   scripts/bench.sh --smoke         1 s per workload, 1 round (CI: proves it works)
#   scripts/bench.sh --million       memory and disk run: 1,000,000 writes over
#                                    100,000 keys against raftkv
#   scripts/bench.sh --large         large-state run (issue 15): raftkv writes for
#                                    30 s over 10,000 keys, then 150 s over
#                                    1,000,000 keys, then kill -9 of a follower and
#                                    its recovery timed; etcd 3.4 (v3 JSON gateway,
#                                    POST /v3/kv/put) for 150 s over 1,000,000 keys
#
# Options:
#   --duration S          seconds per workload run (default 10)
#   --rounds N            rounds; each round starts fresh clusters (default 3)
#   --workloads LIST      comma-separated, from: write-1,write-16,write-64,
#                         write-256,read-lin-64,read-stale-64 (any write-N,
#                         read-lin-N, read-stale-N with 1 <= N <= 1024 works)
#   --systems LIST        raftkv,etcd (default both; one alone is allowed)
#   --target MODE         leader (default): every request goes to the node that
#                         leads when the run starts, on both systems;
#                         node1: always node 1, leader or not, on both systems
#   --keys N              prefilled keys (default 10000)
#   --value-bytes N       value size (default 100)
#   --million-writes N    writes in the --million run (default 1000000)
#   --million-keys N      keys in the --million run (default 100000)
#   --million-conns N     connections in the --million run (default 64)
#   --large-small-s S     seconds over the small key space in --large (default 30)
#   --large-big-s S       seconds over the large key space in --large (default 150)
#   --large-keys N        the large key space (default 1000000)
#   --raftkv-flags STR    extra flags for every raftkv node (e.g. "--snapshot-entries 5000")
#   --out DIR             results, logs and table (default bench-out/<timestamp>)
#   --keep                keep the clusters' data directories
#   --no-install          never run apt-get; fail when a tool is missing
#
# Rounds: each round runs raftkv (start, prefill, every workload, stop) and
# then etcd the same way, so the two clusters never run at the same time and
# every round starts from empty data directories. Medians are taken per
# workload over the rounds. CPU is utime+stime of the three server processes
# from /proc/PID/stat, before and after each run.
#
# Env: DENO (default deno), BENCH_TMPDIR (where the data directories go;
# default $TMPDIR or /tmp; must be a real disk, not tmpfs, for fsync to count),
# BENCH_READY_TIMEOUT (seconds to wait for a cluster, default 60),
# BENCH_RAFTKV_DENO_FLAGS (deno flags of the raftkv nodes; default: the
# --v8-flags of deno.json's start task, if any).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$root/scripts/bench
deno_bin=${DENO:-deno}
ready_timeout=${BENCH_READY_TIMEOUT:-60}

duration=10
rounds=3
workloads="write-1,write-16,write-64,write-256,read-lin-64,read-stale-64"
systems="raftkv,etcd"
target=leader
keys=10000
value_bytes=100
million=0
million_writes=""
million_keys=""
million_conns=64
large=0
large_small_s=30
large_big_s=150
large_keys=1000000
large_conns=64
raftkv_flags=""
# The V8 flags of `deno task start` (deno.json), if any, so the benchmark
# runs raftkv the way users do (docs/PERFORMANCE.md, "Memory");
# BENCH_RAFTKV_DENO_FLAGS replaces them (e.g. to try V8 heap flags).
raftkv_deno_flags=${BENCH_RAFTKV_DENO_FLAGS-$(sed -n 's/.*"start": "deno run \([^"]*\) main.ts".*/\1/p' "$root/deno.json" | grep -o -- '--v8-flags=[^ ]*' || true)}
out_dir=""
keep=0
install=1
mode=full
settle_s=1
prefill_conns=64
prefill_max_s=300
wrk_timeout_s=10

die() {
  echo "bench: error: $*" >&2
  exit 1
}
log() { echo "bench: $*" >&2; }
usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode=smoke; duration=1; rounds=1; settle_s=0 ;;
    --quick) mode=quick; duration=5; rounds=1 ;;
    --million) million=1 ;;
    --large) large=1 ;;
    --large-small-s) need_arg "$@"; large_small_s=$2; shift ;;
    --large-big-s) need_arg "$@"; large_big_s=$2; shift ;;
    --large-keys) need_arg "$@"; large_keys=$2; shift ;;
    --duration) need_arg "$@"; duration=$2; shift ;;
    --rounds) need_arg "$@"; rounds=$2; shift ;;
    --workloads) need_arg "$@"; workloads=$2; shift ;;
    --systems) need_arg "$@"; systems=$2; shift ;;
    --target) need_arg "$@"; target=$2; shift ;;
    --keys) need_arg "$@"; keys=$2; shift ;;
    --value-bytes) need_arg "$@"; value_bytes=$2; shift ;;
    --million-writes) need_arg "$@"; million_writes=$2; shift ;;
    --million-keys) need_arg "$@"; million_keys=$2; shift ;;
    --million-conns) need_arg "$@"; million_conns=$2; shift ;;
    --raftkv-flags) need_arg "$@"; raftkv_flags=$2; shift ;;
    --out) need_arg "$@"; out_dir=$2; shift ;;
    --keep) keep=1 ;;
    --no-install) install=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

for v in duration rounds keys value_bytes million_conns large_small_s large_big_s large_keys; do
  is_uint "${!v}" && [ "${!v}" -ge 1 ] || die "--${v//_/-} must be a positive integer (got '${!v}')"
done
[ "$duration" -le 600 ] || die "--duration is at most 600 s"
[ "$rounds" -le 20 ] || die "--rounds is at most 20"
[ "$million_conns" -le 1024 ] || die "--million-conns is at most 1024"
[ "$value_bytes" -ge 12 ] && [ "$value_bytes" -le 65536 ] || die "--value-bytes must be 12..65536"
case "$target" in leader | node1) ;; *) die "--target must be leader or node1" ;; esac
if [ -z "$million_writes" ]; then
  if [ "$mode" = smoke ]; then million_writes=20000; else million_writes=1000000; fi
fi
if [ -z "$million_keys" ]; then
  if [ "$mode" = smoke ]; then million_keys=2000; else million_keys=100000; fi
fi
is_uint "$million_writes" && [ "$million_writes" -ge 1 ] || die "--million-writes must be a positive integer"
is_uint "$million_keys" && [ "$million_keys" -ge 1 ] || die "--million-keys must be a positive integer"

IFS=, read -r -a system_list <<<"$systems"
for s in "${system_list[@]}"; do
  case "$s" in raftkv | etcd) ;; *) die "unknown system '$s' (raftkv, etcd)" ;; esac
done
IFS=, read -r -a workload_list <<<"$workloads"
for w in "${workload_list[@]}"; do
  [[ $w =~ ^(write|read-lin|read-stale)-([0-9]+)$ ]] || die "unknown workload '$w'"
  c=${BASH_REMATCH[2]}
  [ "$c" -ge 1 ] && [ "$c" -le 1024 ] || die "workload '$w': connections must be 1..1024"
done

# The --million run measures one system: raftkv, unless --systems is just etcd.
million_system=raftkv
[ "$systems" = etcd ] && million_system=etcd
need_etcd=0
if [ "$large" = 1 ]; then
  [[ ,$systems, == *,etcd,* ]] && need_etcd=1
elif [ "$million" = 1 ]; then
  [ "$million_system" = etcd ] && need_etcd=1
elif [[ ,$systems, == *,etcd,* ]]; then
  need_etcd=1
fi

# ---------------------------------------------------------------- tools

ensure_tools() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
  if [ "$need_etcd" = 1 ]; then
    command -v etcd >/dev/null || missing+=(etcd-server)
    command -v etcdctl >/dev/null || missing+=(etcd-client)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$install" = 1 ] || die "missing: ${missing[*]} (install with: apt-get install -y ${missing[*]})"
    [ "$(id -u)" = 0 ] || die "missing: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}"
    log "installing ${missing[*]} from Debian"
    apt-get update -qq >/dev/null || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
      die "apt-get install ${missing[*]} failed"
  fi
  command -v "$deno_bin" >/dev/null || die "deno not found (set DENO=/path/to/deno)"
  if [ "$need_etcd" = 1 ]; then
    etcd_version=$(etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}')
    [[ $etcd_version == 3.4.* ]] || log "warning: etcd is $etcd_version, not 3.4.x"
    if pgrep -x etcd >/dev/null; then
      log "warning: an etcd not started by this script is running (pid $(pgrep -x etcd | tr '\n' ' ')); it competes for CPU"
    fi
  fi
}

# ---------------------------------------------------------------- processes

# Every process this script starts; cleanup stops whichever still run.
live_pids=()
sampler_pid=""
work=""
clk_tck=$(getconf CLK_TCK)

is_our_child() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    [ "$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$$" ]
}

# stop_pids PID...: SIGTERM, up to 5 s to exit, then SIGKILL; reaps them.
stop_pids() {
  local pid alive
  for pid in "$@"; do is_our_child "$pid" && kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for pid in "$@"; do is_our_child "$pid" && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "$@"; do is_our_child "$pid" && kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
  local keep_list=() p
  for p in "${live_pids[@]}"; do
    [[ " $* " == *" $p "* ]] || keep_list+=("$p")
  done
  live_pids=("${keep_list[@]}")
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$sampler_pid" ] && stop_pids "$sampler_pid"
  [ ${#live_pids[@]} -gt 0 ] && stop_pids "${live_pids[@]}"
  if [ -n "$work" ] && [ -d "$work" ]; then
    if [ "$keep" = 1 ]; then log "kept data directories in $work"; else rm -rf "$work"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted; stopping everything"; exit 130' INT
trap 'log "terminated; stopping everything"; exit 143' TERM

# pick_port: a free TCP port on 127.0.0.1 below the ephemeral range.
used_ports=" "
pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    [[ $used_ports == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports+="$p "
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# cpu_ticks PID...: utime+stime (clock ticks) summed over the processes.
cpu_ticks() {
  local total=0 pid fields
  for pid in "$@"; do
    fields=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || die "process $pid is gone"
    # After "pid (comm) ", field 3 (state) is $1, so utime (14) is $12, stime (15) is $13.
    total=$((total + $(echo "$fields" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# machine_ticks: "busy steal" clock ticks of the whole machine from /proc/stat
# (busy = user+nice+system+irq+softirq), to see how much else ran meanwhile.
machine_ticks() {
  awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $9}' /proc/stat
}

# source_hash: a short fingerprint of raftkv's source (not tests or scripts),
# recorded per run: others may edit the tree while a long benchmark runs.
source_hash() {
  (cd "$root" && find . -name '*.ts' -not -path './tests/*' -not -path './scripts/*' \
    -not -path './bench-out/*' -not -path './.ci/*' -not -path './node_modules/*' -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
}

# ---------------------------------------------------------------- clusters

# Current cluster: system name, server pids, client ports, data dirs.
cur_system=""
cur_cluster=""
cur_src=""
cur_pids=()
cur_ports=()
cur_dirs=()
cur_logs=()

start_raftkv() {
  local tag=$1 i peer=() client=() cluster
  for i in 1 2 3; do peer+=("$(pick_port)"); client+=("$(pick_port)"); done
  cluster="http://127.0.0.1:${peer[0]},http://127.0.0.1:${peer[1]},http://127.0.0.1:${peer[2]}"
  cur_cluster=$cluster
  cur_system=raftkv cur_pids=() cur_ports=() cur_dirs=() cur_logs=()
  cur_src=$(source_hash)
  for i in 1 2 3; do
    local dir=$work/$tag/raftkv-$i logf=$out/logs/$tag-raftkv-$i.log
    mkdir -p "$dir"
    # shellcheck disable=SC2086 # the flags are split into words on purpose
    "$deno_bin" run -A $raftkv_deno_flags "$root/main.ts" --id "$i" --cluster "$cluster" \
      --port "${client[$((i - 1))]}" --data-dir "$dir" --log-level warn $raftkv_flags \
      </dev/null >"$logf" 2>&1 &
    cur_pids+=("$!") cur_ports+=("${client[$((i - 1))]}") cur_dirs+=("$dir") cur_logs+=("$logf")
    live_pids+=("$!")
  done
}

start_etcd() {
  local tag=$1 i peer=() client=() initial=""
  for i in 1 2 3; do peer+=("$(pick_port)"); client+=("$(pick_port)"); done
  for i in 1 2 3; do initial+="${initial:+,}e$i=http://127.0.0.1:${peer[$((i - 1))]}"; done
  cur_system=etcd cur_pids=() cur_ports=() cur_dirs=() cur_logs=()
  cur_src=${etcd_version:-etcd}
  for i in 1 2 3; do
    local dir=$work/$tag/etcd-$i logf=$out/logs/$tag-etcd-$i.log
    local p=${peer[$((i - 1))]} c=${client[$((i - 1))]}
    etcd --name "e$i" --data-dir "$dir" \
      --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
      --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
      --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token "bench-$$-$tag" \
      --enable-v2 --logger zap --log-outputs stderr --log-level warn \
      </dev/null >"$logf" 2>&1 &
    cur_pids+=("$!") cur_ports+=("$c") cur_dirs+=("$dir") cur_logs+=("$logf")
    live_pids+=("$!")
  done
}

cluster_failed() {
  local i
  for i in 0 1 2; do
    echo "--- ${cur_logs[$i]} (last 15 lines)" >&2
    tail -n 15 "${cur_logs[$i]}" >&2 || true
  done
  die "$*"
}

# wait_ready: every node answers /health with a leader, within ready_timeout.
wait_ready() {
  local deadline=$((SECONDS + ready_timeout)) i ok body
  while :; do
    ok=0
    for i in 0 1 2; do
      kill -0 "${cur_pids[$i]}" 2>/dev/null || cluster_failed "$cur_system node $((i + 1)) exited during startup"
      body=$(curl -fsS --max-time 2 "http://127.0.0.1:${cur_ports[$i]}/health" 2>/dev/null) || continue
      if [ "$cur_system" = etcd ]; then
        [[ $body == *'"health":"true"'* ]] && ok=$((ok + 1))
      else
        ok=$((ok + 1))
      fi
    done
    [ "$ok" = 3 ] && break
    [ "$SECONDS" -lt "$deadline" ] || cluster_failed "$cur_system cluster not healthy after ${ready_timeout}s"
    sleep 0.2
  done
}

# leader_node: the 1-based node that leads now (0 when unknown).
leader_node() {
  local i state id
  if [ "$cur_system" = etcd ]; then
    for i in 0 1 2; do
      state=$(curl -fsS --max-time 2 "http://127.0.0.1:${cur_ports[$i]}/v2/stats/self" 2>/dev/null |
        jq -r '.state // empty' 2>/dev/null) || true
      if [ "$state" = StateLeader ]; then
        echo $((i + 1))
        return
      fi
    done
    echo 0
  else
    for i in 0 1 2; do
      id=$(curl -fsS --max-time 2 "http://127.0.0.1:${cur_ports[$i]}/v1/status" 2>/dev/null |
        jq -r '.leader // empty' 2>/dev/null) || true
      if is_uint "$id" && [ "$id" -ge 1 ] && [ "$id" -le 3 ]; then
        echo "$id"
        return
      fi
    done
    echo 0
  fi
}

# choose_target: sets target_node (1-based) and target_url.
choose_target() {
  local deadline=$((SECONDS + ready_timeout))
  if [ "$target" = node1 ]; then
    target_node=1
  else
    while :; do
      target_node=$(leader_node)
      [ "$target_node" != 0 ] && break
      [ "$SECONDS" -lt "$deadline" ] || cluster_failed "$cur_system: no leader after ${ready_timeout}s"
      sleep 0.2
    done
  fi
  target_url="http://127.0.0.1:${cur_ports[$((target_node - 1))]}"
}

stop_cluster() {
  stop_pids "${cur_pids[@]}"
  cur_pids=()
}

# key_count: keys the target node holds (after a linearizable barrier for etcd).
key_count() {
  if [ "$cur_system" = etcd ]; then
    curl -fsS --max-time 30 "$target_url/v2/keys/?quorum=true" 2>/dev/null | jq '.node.nodes // [] | length'
  else
    curl -fsS --max-time 10 "$target_url/v1/status" 2>/dev/null | jq '.keys'
  fi
}

# run_fill NKEYS VALUE_BYTES TOTAL ORDER CONNS MAX_S OUTFILE: count-bounded writes.
run_fill() {
  local nkeys=$1 vbytes=$2 total=$3 order=$4 conns=$5 max_s=$6 outfile=$7
  (cd "$bench_dir" && timeout --foreground -k 5 $((max_s + 30)) \
    wrk -t1 -c"$conns" -d"${max_s}s" --timeout "${wrk_timeout_s}s" -s "$bench_dir/fill.lua" "$target_url" \
    -- "$cur_system" "$nkeys" "$vbytes" "$total" "$order") >"$outfile" 2>&1 ||
    { cat "$outfile" >&2; die "wrk (fill) failed against $cur_system"; }
  grep '^BENCH_JSON ' "$outfile" | tail -n 1 | sed 's/^BENCH_JSON //' | grep . ||
    { cat "$outfile" >&2; die "wrk (fill) printed no result"; }
}

prefill() {
  local tag=$1 attempt got res
  for attempt in 1 2; do
    res=$(run_fill "$keys" "$value_bytes" "$keys" seq "$prefill_conns" "$prefill_max_s" "$out/wrk/$tag-$cur_system-prefill-$attempt.txt")
    got=$(key_count) || got=0
    log "$cur_system prefill: $(echo "$res" | jq -r '"\(.ok) writes in \(.durationUs / 1e6 | . * 100 | round / 100) s, \(.non2xx) non-2xx"'), $got keys present"
    [ "${got:-0}" -ge "$keys" ] && return 0
  done
  die "$cur_system prefill left ${got:-0} of $keys keys"
}

# run_load TAG ROUND WORKLOAD: one time-bounded wrk run; appends to results.jsonl.
run_load() {
  local tag=$1 round=$2 w=$3 op conns kind
  [[ $w =~ ^(write|read-lin|read-stale)-([0-9]+)$ ]]
  kind=${BASH_REMATCH[1]} conns=${BASH_REMATCH[2]}
  case "$kind" in write) op=write ;; read-lin) op=read ;; read-stale) op=stale ;; esac
  local outfile=$out/wrk/$tag-$cur_system-$w.txt leader_before leader_after t0 t1 m0 m1 load1 json
  local timefile=$out/wrk/$tag-$cur_system-$w.time TIMEFORMAT='%U %S'
  leader_before=$(leader_node)
  load1=$(cut -d' ' -f1 /proc/loadavg)
  m0=$(machine_ticks)
  t0=$(cpu_ticks "${cur_pids[@]}")
  { time (cd "$bench_dir" && timeout --foreground -k 5 $((duration + 60)) \
    wrk -t1 -c"$conns" -d"${duration}s" --timeout "${wrk_timeout_s}s" -s "$bench_dir/load.lua" "$target_url" \
    -- "$cur_system" "$op" "$keys" "$value_bytes" >"$outfile" 2>&1); } 2>"$timefile" ||
    { cat "$outfile" >&2; die "wrk failed: $cur_system $w"; }
  t1=$(cpu_ticks "${cur_pids[@]}")
  m1=$(machine_ticks)
  leader_after=$(leader_node)
  json=$(grep '^BENCH_JSON ' "$outfile" | tail -n 1 | sed 's/^BENCH_JSON //')
  [ -n "$json" ] || { cat "$outfile" >&2; die "wrk printed no result: $cur_system $w"; }
  json=$(echo "$json" | jq -c \
    --arg system "$cur_system" --arg workload "$w" --argjson round "$round" \
    --argjson conns "$conns" --arg op "$op" --argjson target "$target_node" \
    --argjson leaderBefore "$leader_before" --argjson leaderAfter "$leader_after" \
    --argjson cpuTicks $((t1 - t0)) --argjson clkTck "$clk_tck" --argjson load1 "$load1" \
    --argjson wrkCpuS "$(awk '{print $1 + $2}' "$timefile")" \
    --argjson busyTicks $(($(echo "$m1" | cut -d' ' -f1) - $(echo "$m0" | cut -d' ' -f1))) \
    --argjson stealTicks $(($(echo "$m1" | cut -d' ' -f2) - $(echo "$m0" | cut -d' ' -f2))) \
    --arg source "$cur_src" \
    '. + {system: $system, workload: $workload, round: $round, conns: $conns, op: $op,
          target: $target, leaderBefore: $leaderBefore, leaderAfter: $leaderAfter,
          cpuS: ($cpuTicks / $clkTck), wrkCpuS: $wrkCpuS, machineBusyS: ($busyTicks / $clkTck),
          stealS: ($stealTicks / $clkTck), load1: $load1, source: $source}')
  echo "$json" >>"$out/results.jsonl"
  echo "$json" | jq -r '"bench: round \(.round) \(.system) \(.workload): \(.requests / (.durationUs / 1e6) | round) req/s, p50 \(.p50Us / 1000) ms, p99 \(.p99Us / 1000) ms, errors \(.errStatus + .errConnect + .errRead + .errWrite + .errTimeout), cpu \(.cpuS) s"' >&2
  [ "$leader_before" = "$leader_after" ] || log "warning: $cur_system leader changed during $w ($leader_before -> $leader_after)"
  echo "$json" | jq -e '.requests > 0' >/dev/null || die "$cur_system $w completed no request"
}

start_system() {
  local system=$1 tag=$2
  case "$system" in
    raftkv) start_raftkv "$tag" ;;
    etcd) start_etcd "$tag" ;;
  esac
  wait_ready
  choose_target
  log "$system cluster up (pids ${cur_pids[*]}, client ports ${cur_ports[*]}); requests go to node $target_node"
}

# ---------------------------------------------------------------- million run

# sample_loop SYSTEM INTERVAL FILE PID... -- PORT... -- DIR...: one JSON line
# per node per sample with RSS, peak RSS, data-dir bytes and (raftkv) /v1/status.
sample_loop() {
  local system=$1 interval=$2 file=$3
  shift 3
  local pids=("$1" "$2" "$3") ports=("$5" "$6" "$7") dirs=("$9" "${10}" "${11}")
  local start=$SECONDS i status rss hwm bytes sleeper=""
  trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; wait; exit 0' TERM
  while :; do
    for i in 0 1 2; do
      status=null
      if [ "$system" = raftkv ]; then
        status=$(curl -fsS --max-time 2 "http://127.0.0.1:${ports[$i]}/v1/status" 2>/dev/null) || status=null
        [ -n "$status" ] || status=null
      fi
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${pids[$i]}/status" 2>/dev/null || true)
      hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/${pids[$i]}/status" 2>/dev/null || true)
      bytes=$(du -sb "${dirs[$i]}" 2>/dev/null | cut -f1 || true)
      printf '{"t":%d,"node":%d,"rssKb":%s,"hwmKb":%s,"dirBytes":%s,"status":%s}\n' \
        $((SECONDS - start)) $((i + 1)) "${rss:-null}" "${hwm:-null}" "${bytes:-null}" "$status" >>"$file"
    done
    sleep "$interval" &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=""
  done
}

run_million() {
  local system=$million_system tag=million interval=5
  [ "$mode" = smoke ] && interval=1
  log "memory and disk run: $million_writes writes over $million_keys keys, $million_conns connections, $system"
  start_system "$system" "$tag"
  local samples=$out/million-samples.jsonl
  : >"$samples"
  sample_loop "$system" "$interval" "$samples" "${cur_pids[@]}" -- "${cur_ports[@]}" -- "${cur_dirs[@]}" &
  sampler_pid=$!
  local t0 t1 res max_s=3600 leader_before leader_after
  leader_before=$(leader_node)
  t0=$(cpu_ticks "${cur_pids[@]}")
  res=$(run_fill "$million_keys" "$value_bytes" "$million_writes" random "$million_conns" "$max_s" "$out/wrk/$tag-$system.txt")
  t1=$(cpu_ticks "${cur_pids[@]}")
  leader_after=$(leader_node)
  sleep "$interval"
  stop_pids "$sampler_pid"
  sampler_pid=""
  # A final sample after the load, with the run's totals beside it.
  local i rss hwm bytes status
  for i in 0 1 2; do
    status=null
    [ "$system" = raftkv ] && { status=$(curl -fsS --max-time 5 "http://127.0.0.1:${cur_ports[$i]}/v1/status") || status=null; }
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${cur_pids[$i]}/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/${cur_pids[$i]}/status")
    bytes=$(du -sb "${cur_dirs[$i]}" | cut -f1)
    printf '{"final":true,"node":%d,"rssKb":%s,"hwmKb":%s,"dirBytes":%s,"status":%s}\n' \
      $((i + 1)) "$rss" "$hwm" "$bytes" "$status" >>"$samples"
  done
  echo "$res" | jq -c --arg system "$system" --argjson keys "$million_keys" --argjson conns "$million_conns" \
    --argjson cpuTicks $((t1 - t0)) --argjson clkTck "$clk_tck" --argjson target "$target_node" \
    --argjson leaderBefore "$leader_before" --argjson leaderAfter "$leader_after" --arg source "$cur_src" \
    '. + {system: $system, keys: $keys, conns: $conns, target: $target, cpuS: ($cpuTicks / $clkTck),
          leaderBefore: $leaderBefore, leaderAfter: $leaderAfter, source: $source}' \
    >"$out/million-run.json"
  stop_cluster
  "$deno_bin" run --allow-read "$bench_dir/memory_report.ts" "$out/million-run.json" "$samples" |
    tee "$out/million.md"
}

# ---------------------------------------------------------------- large-state run

# node_write_bytes: "b1 b2 b3", bytes each server process caused to be written
# to storage so far (/proc/PID/io write_bytes).
node_write_bytes() {
  local pid out=""
  for pid in "${cur_pids[@]}"; do
    out+="$(awk '/^write_bytes:/ {print $2}' "/proc/$pid/io") "
  done
  echo "$out"
}

# node_snapshots: "s1 s2 s3", snapshots each raftkv node took so far (0 for etcd).
node_snapshots() {
  local port out="" n
  for port in "${cur_ports[@]}"; do
    n=0
    if [ "$cur_system" = raftkv ]; then
      n=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" 2>/dev/null |
        awk '/^raftkv_snapshots_taken_total/ {print $2}' | head -n 1)
    fi
    out+="${n:-0} "
  done
  echo "$out"
}

# node_hwm_kb: "h1 h2 h3", peak RSS (VmHWM) of each server process in KiB.
node_hwm_kb() {
  local pid out=""
  for pid in "${cur_pids[@]}"; do
    out+="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status") "
  done
  echo "$out"
}

# late_heartbeats: late-heartbeat warnings in the nodes' logs so far.
late_heartbeats() {
  cat "${cur_logs[@]}" 2>/dev/null | grep -c 'failed to send heartbeats' || true
}

# rss_sampler FILE: until killed, every 0.5 s one JSON line in FILE with each
# server process's resident memory (VmRSS, KiB) and, for raftkv, the size of
# its newest snapshot file: what "peak memory over the steady state, against
# one snapshot's size" is computed from.
rss_sampler() {
  local file=$1 pid rss snap i
  while kill -0 $$ 2>/dev/null; do
    rss="" snap=""
    for i in 0 1 2; do
      pid=${cur_pids[$i]}
      rss+="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0) "
      if [ "$cur_system" = raftkv ]; then
        # shellcheck disable=SC2012 # names are ours: <term>-<index>.snap
        snap+="$(ls -t "${cur_dirs[$i]}/snap/"*.snap 2>/dev/null | head -n 1 | xargs -r stat -c %s || echo 0) "
      fi
    done
    echo "{\"rssKb\": $(json_array "$rss"), \"snapBytes\": $(json_array "${snap:-0 0 0}")}" >>"$file"
    sleep 0.5
  done
}

# rss_summary FILE: {rssMedianKb, rssMaxKb, snapMaxBytes, snapRise}, each per
# node, of rss_sampler's samples. snapRise lists, for each snapshot a node
# finished (its newest snapshot file changed at sample k, k >= 10), the rise
# of its RSS from 5 s before (sample k-10) to the largest sample up to 1 s
# after, and the snapshot's size: [riseKb, snapBytes]. The window also holds
# 5 s of the state's own growth, so the rise is an upper bound.
rss_summary() {
  jq -s -c '. as $s | {
    rssMedianKb: [range(0; 3) as $i | [.[].rssKb[$i]] | sort | .[length / 2 | floor]],
    rssMaxKb: [range(0; 3) as $i | [.[].rssKb[$i]] | max],
    snapMaxBytes: [range(0; 3) as $i | [.[].snapBytes[$i] // 0] | max],
    snapRise: [range(0; 3) as $i | [range(10; $s | length) as $k
      | select($s[$k].snapBytes[$i] != $s[$k - 1].snapBytes[$i])
      | [([$s[($k - 10):($k + 3)][].rssKb[$i]] | max) - $s[$k - 10].rssKb[$i],
         $s[$k].snapBytes[$i]]]]
  }' "$1"
}

# json_array "a b c": [a,b,c]
json_array() { echo "[$(echo "$1" | xargs | tr ' ' ',')]"; }

# large_phase PHASE KEYS SECONDS: time-bounded writes over KEYS keys at
# large_conns connections; one JSON line in large.jsonl.
large_phase() {
  local phase=$1 nkeys=$2 secs=$3 api=$cur_system
  [ "$cur_system" = etcd ] && api=etcd3
  local outfile=$out/wrk/large-$cur_system-$phase.txt w0 w1 s0 s1 h0 h1 c0 c1 json
  w0=$(node_write_bytes) s0=$(node_snapshots) h0=$(late_heartbeats) c0=$(cpu_ticks "${cur_pids[@]}")
  local rss_file=$out/large-$cur_system-$phase-rss.jsonl sampler
  : >"$rss_file"
  rss_sampler "$rss_file" &
  sampler=$!
  (cd "$bench_dir" && timeout --foreground -k 5 $((secs + 60)) \
    wrk -t1 -c"$large_conns" -d"${secs}s" --timeout "${wrk_timeout_s}s" -s "$bench_dir/large.lua" "$target_url" \
    -- "$api" "$nkeys" "$value_bytes" >"$outfile" 2>&1) ||
    { cat "$outfile" >&2; die "wrk failed: $cur_system large $phase"; }
  w1=$(node_write_bytes) s1=$(node_snapshots) h1=$(late_heartbeats) c1=$(cpu_ticks "${cur_pids[@]}")
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  json=$(grep '^BENCH_JSON ' "$outfile" | tail -n 1 | sed 's/^BENCH_JSON //')
  [ -n "$json" ] || { cat "$outfile" >&2; die "wrk printed no result: $cur_system large $phase"; }
  json=$(echo "$json" | jq -c --arg system "$cur_system" --arg phase "$phase" \
    --argjson keys "$nkeys" --argjson conns "$large_conns" --argjson valueBytes "$value_bytes" \
    --argjson w0 "$(json_array "$w0")" --argjson w1 "$(json_array "$w1")" \
    --argjson s0 "$(json_array "$s0")" --argjson s1 "$(json_array "$s1")" \
    --argjson hwmKb "$(json_array "$(node_hwm_kb)")" --argjson late $((h1 - h0)) \
    --argjson cpuTicks $((c1 - c0)) --argjson clkTck "$clk_tck" --argjson target "$target_node" \
    --arg source "$cur_src" --argjson rss "$(rss_summary "$rss_file")" \
    '. + $rss + {system: $system, phase: $phase, keys: $keys, conns: $conns, valueBytes: $valueBytes,
          target: $target, writeBytes: [range(0; 3) as $i | $w1[$i] - $w0[$i]],
          snapshots: [range(0; 3) as $i | $s1[$i] - $s0[$i]], hwmKb: $hwmKb,
          lateHeartbeats: $late, cpuS: ($cpuTicks / $clkTck), source: $source}')
  echo "$json" >>"$out/large.jsonl"
  echo "$json" | jq -r '"bench: \(.system) \(.phase) (\(.keys) keys): \(.requests / (.durationUs / 1e6) | round) writes/s, p50 \(.p50Us / 1000) p90 \(.p90Us / 1000) p99 \(.p99Us / 1000) max \(.maxUs / 1000) ms, snapshots \(.snapshots), written \(.writeBytes), late heartbeats \(.lateHeartbeats)"' >&2
}

# large_recovery: kill -9 a follower holding the large state, start it again
# on its data directory and time it until /health answers 200; the node's own
# "recovered in" line (snapshot load + WAL replay) goes beside the wall time.
large_recovery() {
  local i=0 victim port pid logf t0 line wall
  for i in 0 1 2; do [ $((i + 1)) != "$target_node" ] && break; done
  victim=$((i + 1)) port=${cur_ports[$i]} pid=${cur_pids[$i]}
  logf=$out/logs/large-raftkv-$victim-restart.log
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  local du_bytes
  du_bytes=$(du -sb "${cur_dirs[$i]}" | cut -f1)
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086 # the flags are split into words on purpose
  "$deno_bin" run -A $raftkv_deno_flags "$root/main.ts" --id "$victim" --cluster "$cur_cluster" \
    --port "$port" --data-dir "${cur_dirs[$i]}" --log-level info $raftkv_flags </dev/null >"$logf" 2>&1 &
  cur_pids[i]=$! live_pids+=("$!") cur_logs[i]=$logf
  local deadline=$((SECONDS + 600))
  until curl -fsS --max-time 2 "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    kill -0 "${cur_pids[$i]}" 2>/dev/null || cluster_failed "node $victim exited while recovering"
    [ "$SECONDS" -lt "$deadline" ] || cluster_failed "node $victim not healthy 600 s after its restart"
    sleep 0.1
  done
  wall=$(echo "$(date +%s.%N) - $t0" | bc)
  line=$(grep '"msg":"recovered in' "$logf" | head -n 1)
  [ -n "$line" ] || line=null
  jq -cn --argjson node "$victim" --argjson wallS "$wall" --argjson dataDirBytes "$du_bytes" \
    --argjson line "$line" '{recovery: true, node: $node, wallToHealthyS: $wallS,
      dataDirBytes: $dataDirBytes, recovered: $line}' | tee -a "$out/large.jsonl" >&2
}

run_large() {
  : >"$out/large.jsonl"
  log "large-state run: ${large_small_s}s over $keys keys, then ${large_big_s}s over $large_keys keys, $large_conns connections"
  start_system raftkv large
  large_phase small "$keys" "$large_small_s"
  large_phase large "$large_keys" "$large_big_s"
  large_recovery
  stop_cluster
  [ "$keep" = 1 ] || rm -rf "${work:?}/large/raftkv"-*
  if [ "$need_etcd" = 1 ]; then
    start_system etcd large
    large_phase large "$large_keys" "$large_big_s"
    stop_cluster
    [ "$keep" = 1 ] || rm -rf "${work:?}/large/etcd"-*
  fi
  "$deno_bin" run --allow-read "$bench_dir/large_report.ts" "$out/large.jsonl" | tee "$out/large.md"
}

# ---------------------------------------------------------------- main

ensure_tools
out=${out_dir:-$root/bench-out/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/logs" "$out/wrk"
out=$(cd "$out" && pwd)
base_tmp=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$base_tmp/raftkv-bench.XXXXXX")
fs_type=$(stat -f -c %T "$work")
[ "$fs_type" = tmpfs ] && log "warning: $work is on tmpfs: fsync costs nothing there; set BENCH_TMPDIR to a real disk"
log "results in $out; data directories in $work ($fs_type)"
log "raftkv runs as: deno run -A ${raftkv_deno_flags:+$raftkv_deno_flags }main.ts … --log-level warn${raftkv_flags:+ $raftkv_flags}"

if [ "$large" = 1 ]; then
  run_large
  exit 0
fi
if [ "$million" = 1 ]; then
  run_million
  exit 0
fi

: >"$out/results.jsonl"
log "mode $mode: ${duration}s per workload, $rounds round(s), workloads $workloads, systems $systems, target $target"
for round in $(seq 1 "$rounds"); do
  for system in "${system_list[@]}"; do
    tag=r$round
    start_system "$system" "$tag"
    prefill "$tag"
    for w in "${workload_list[@]}"; do
      sleep "$settle_s"
      run_load "$tag" "$round" "$w"
    done
    stop_cluster
    [ "$keep" = 1 ] || rm -rf "${work:?}/$tag/$system"-*
  done
done

{
  echo "$(date -u +%Y-%m-%dT%H:%MZ), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo ' (working tree has changes)'), mode $mode: ${duration}s per workload, $rounds round(s), target $target, wrk -t1, $keys keys, ${value_bytes}-byte values, $(nproc) CPUs, raftkv deno flags: ${raftkv_deno_flags:-none}"
  echo
  "$deno_bin" run --allow-read "$bench_dir/table.ts" "$out/results.jsonl"
} | tee "$out/table.md"
