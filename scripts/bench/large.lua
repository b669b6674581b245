-- Time-bounded writes over a large key space for scripts/bench.sh --large:
-- uniformly random keys out of KEYS (1,000,000 keys would take hundreds of
-- MB as prebuilt requests, so each request is built when sent), one value
-- of VALUE_BYTES for every key.
--
--   wrk -t1 -cC -dDs -s large.lua URL -- API KEYS VALUE_BYTES
--     API: raftkv (PUT /v1/kv/{key})
--          etcd3  (etcd 3.4's v3 JSON gateway: POST /v3/kv/put, base64 fields)
local here = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")

local api, count, value, value64
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Standard base64 of `s` (with padding).
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = string.byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {
      math.floor(n / 262144) % 64, math.floor(n / 4096) % 64,
      math.floor(n / 64) % 64, n % 64,
    }
    out[#out + 1] = b64chars:sub(q[1] + 1, q[1] + 1) .. b64chars:sub(q[2] + 1, q[2] + 1)
      .. (b and b64chars:sub(q[3] + 1, q[3] + 1) or "=")
      .. (c and b64chars:sub(q[4] + 1, q[4] + 1) or "=")
  end
  return table.concat(out)
end

function init(args)
  api = args[1]
  local bytes
  count, bytes = tonumber(args[2]), tonumber(args[3])
  if not (api and count and bytes) then
    error("usage: large.lua -- API KEYS VALUE_BYTES")
  end
  value = string.rep("x", bytes)
  value64 = base64(value)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
  local key = common.key(math.random(count) - 1)
  if api == "raftkv" then
    return wrk.format("PUT", "/v1/kv/" .. key,
      { ["Content-Type"] = "application/octet-stream" }, value)
  end
  return wrk.format("POST", "/v3/kv/put", { ["Content-Type"] = "application/json" },
    '{"key":"' .. base64(key) .. '","value":"' .. value64 .. '"}')
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,'
      .. '"meanUs":%.1f,"errConnect":%d,"errRead":%d,"errWrite":%d,"errStatus":%d,"errTimeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status,
    e.timeout))
end
