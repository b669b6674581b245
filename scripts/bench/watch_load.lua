-- Time-bounded write load for scripts/bench_watch.ts: puts of uniformly
-- random keys w/k000000.. under one prefix, requests built once in init().
--
--   wrk -t1 -cC -dDs -s watch_load.lua URL -- API KEYS VALUE_BYTES
--     API: raftkv (PUT /v1/kv/w%2Fk...) | etcd (v3 gateway POST /v3/kv/put)
--
-- etcd's v2 writes are not seen by v3 watches, so etcd is written through
-- the v3 JSON gateway here (scripts/bench.sh uses v2 for plain writes).
local here = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

local requests = {}
local count = 0

function init(args)
  local api, keys, bytes = args[1], tonumber(args[2]), tonumber(args[3])
  if not (api and keys and bytes) then
    error("usage: watch_load.lua -- API KEYS VALUE_BYTES")
  end
  for i = 0, keys - 1 do
    local key, value = "w/" .. common.key(i), common.value(i, bytes)
    if api == "raftkv" then
      requests[i + 1] = wrk.format("PUT", "/v1/kv/w%2F" .. common.key(i),
        { ["Content-Type"] = "application/octet-stream" }, value)
    elseif api == "etcd" then
      requests[i + 1] = wrk.format("POST", "/v3/kv/put",
        { ["Content-Type"] = "application/json" },
        '{"key":"' .. base64(key) .. '","value":"' .. base64(value) .. '"}')
    else
      error("unknown api " .. tostring(api))
    end
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
    'BENCH_JSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,'
      .. '"errConnect":%d,"errRead":%d,"errWrite":%d,"errStatus":%d,"errTimeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
