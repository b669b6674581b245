-- Request-count-bounded writes for scripts/bench.sh: the prefill (every key
-- once, in order) and the million-write run (random keys). Stops once TOTAL
-- writes were answered 2xx, then interrupts wrk so it reports at once
-- instead of sleeping out -d (which stays the upper time bound).
-- Run with -t1 (one thread owns the whole count).
--
--   wrk -t1 -cC -dMAXs -s fill.lua URL -- API KEYS VALUE_BYTES TOTAL seq|random
local here = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")

local requests = {}
local keys, total, order = 0, 0, "seq"
local next_key = 0
ok, bad = 0, 0
local stopped = false

function setup(thread)
  threads = threads or {}
  table.insert(threads, thread)
end

function init(args)
  local api = args[1]
  keys, total, order = tonumber(args[2]), tonumber(args[4]), args[5] or "seq"
  local bytes = tonumber(args[3])
  if not (api and keys and bytes and total) then
    error("usage: fill.lua -- API KEYS VALUE_BYTES TOTAL seq|random")
  end
  for i = 0, keys - 1 do
    requests[i + 1] = common.request(api, "write", i, bytes)
  end
  math.randomseed(os.time())
end

function request()
  if order == "random" then
    return requests[math.random(keys)]
  end
  local r = requests[next_key % keys + 1]
  next_key = next_key + 1
  return r
end

-- Ends wrk's run now: wrk's main thread sleeps for -d and stops early only
-- on SIGINT, so send SIGINT to that thread itself (tgkill with tid = pid).
-- A process-wide kill may land on this worker thread instead and leave the
-- main thread asleep.
local function interrupt_wrk()
  local ok_ffi, ffi = pcall(require, "ffi")
  if ok_ffi then
    pcall(ffi.cdef, "int getpid(void); int tgkill(int tgid, int tid, int sig);")
    local pid = ffi.C.getpid()
    if pcall(ffi.C.tgkill, pid, pid, 2) then return end
  end
  local f = io.open("/proc/self/stat", "r")
  if not f then return end
  local pid = f:read("*n")
  f:close()
  -- io.popen, not os.execute: system() ignores SIGINT while its child runs.
  local p = io.popen("kill -INT " .. pid)
  if p then p:close() end
end

function response(status, _, _)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
  end
  if ok >= total and not stopped then
    stopped = true
    wrk.thread:stop()
    interrupt_wrk()
  end
end

function done(summary, latency, _)
  local sum_ok, sum_bad = 0, 0
  for _, t in ipairs(threads or {}) do
    sum_ok = sum_ok + (t:get("ok") or 0)
    sum_bad = sum_bad + (t:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"ok":%d,"non2xx":%d,"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,'
      .. '"errConnect":%d,"errRead":%d,"errWrite":%d,"errTimeout":%d}\n',
    sum_ok, sum_bad, summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect, e.read, e.write, e.timeout))
end
