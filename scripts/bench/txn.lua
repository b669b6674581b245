-- Transactions for scripts/bench_coord.ts: each request is one transaction
-- with 2 compares (both true) and 2 puts, on a pair of keys chosen in turn
-- from 1000 pairs; the same keys and values on both systems.
--   raftkv: POST /v1/txn     etcd 3.4: POST /v3/kv/txn (the v3 JSON gateway)
-- Env: TXN_API = raftkv | etcd.
local api = os.getenv("TXN_API") or "raftkv"
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = string.byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    for j = 3, 0, -1 do
      local k = math.floor(n / (64 ^ j)) % 64 + 1
      out[#out + 1] = string.sub(b64chars, k, k)
    end
    if not b then out[#out] = "="; out[#out - 1] = "=" elseif not c then out[#out] = "=" end
  end
  return table.concat(out)
end

local n = 0
local value = string.rep("v", 100)

request = function()
  n = n + 1
  local a = string.format("ta%04d", n % 1000)
  local b = string.format("tb%04d", n % 1000)
  if api == "etcd" then
    local ka, kb, v = b64(a), b64(b), b64(value)
    local body = '{"compare":[' ..
      '{"key":"' .. ka .. '","target":"MOD","result":"LESS","mod_revision":"1000000000000"},' ..
      '{"key":"' .. kb .. '","target":"VERSION","result":"LESS","version":"1000000000000"}],' ..
      '"success":[{"request_put":{"key":"' .. ka .. '","value":"' .. v .. '"}},' ..
      '{"request_put":{"key":"' .. kb .. '","value":"' .. v .. '"}}]}'
    return wrk.format("POST", "/v3/kv/txn", { ["Content-Type"] = "application/json" }, body)
  end
  local body = '{"compare":[' ..
    '{"key":"' .. a .. '","target":"modIndex","op":"<","value":1000000000000},' ..
    '{"key":"' .. b .. '","target":"version","op":"<","value":1000000000000}],' ..
    '"success":[{"op":"put","key":"' .. a .. '","value":"' .. value .. '"},' ..
    '{"op":"put","key":"' .. b .. '","value":"' .. value .. '"}]}'
  return wrk.format("POST", "/v1/txn", { ["Content-Type"] = "application/json" }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors=%d non2xx=%d p50_ms=%.2f p99_ms=%.2f duration_s=%.2f\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.duration / 1e6))
end
