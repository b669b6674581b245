-- Time-bounded load for scripts/bench.sh: uniformly random keys out of a
-- prefilled key space, one operation per run. Requests are built once in
-- init() so the generator costs little CPU and the same for both systems.
--
--   wrk -t1 -cC -dDs -s load.lua URL -- API OP KEYS VALUE_BYTES
--     API: raftkv | etcd     OP: write | read | stale
--
-- No response() callback: wrk then skips parsing bodies. Errors are wrk's own
-- counters (status >= 400, connect/read/write errors, timeouts).
local here = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")

local requests = {}
local count = 0

function init(args)
  local api, op = args[1], args[2]
  local keys, bytes = tonumber(args[3]), tonumber(args[4])
  if not (api and op and keys and bytes) then
    error("usage: load.lua -- API OP KEYS VALUE_BYTES")
  end
  for i = 0, keys - 1 do
    requests[i + 1] = common.request(api, op, i, bytes)
  end
  count = keys
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
  return requests[math.random(count)]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"meanUs":%.1f,'
      .. '"errConnect":%d,"errRead":%d,"errWrite":%d,"errStatus":%d,"errTimeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
