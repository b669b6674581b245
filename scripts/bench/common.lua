-- Shared request building for the raftkv-vs-etcd benchmark (scripts/bench.sh).
-- Both systems get the same key names, the same 100-byte values and the same
-- request shapes; only the URL layout differs:
--   raftkv: PUT /v1/kv/{key} (raw body)          etcd v2: PUT /v2/keys/{key} (form body value=...)
--           GET /v1/kv/{key}                             GET /v2/keys/{key}?quorum=true
--           GET /v1/kv/{key}?consistency=stale           GET /v2/keys/{key}
local M = {}

-- Key i (0-based) as a fixed-width name, the same on both systems.
function M.key(i)
  return string.format("k%06d", i)
end

-- A value of exactly `bytes` URL-safe characters that names its key, so the
-- etcd form body needs no escaping and both systems store the same bytes.
function M.value(i, bytes)
  local head = "v" .. M.key(i) .. "-"
  if #head >= bytes then
    return string.sub(head, 1, bytes)
  end
  return head .. string.rep("x", bytes - #head)
end

-- The complete HTTP request for operation `op` (write, read, stale) on key i.
function M.request(api, op, i, bytes)
  local key = M.key(i)
  if api == "raftkv" then
    if op == "write" then
      return wrk.format("PUT", "/v1/kv/" .. key,
        { ["Content-Type"] = "application/octet-stream" }, M.value(i, bytes))
    elseif op == "read" then
      return wrk.format("GET", "/v1/kv/" .. key)
    elseif op == "stale" then
      return wrk.format("GET", "/v1/kv/" .. key .. "?consistency=stale")
    end
  elseif api == "etcd" then
    if op == "write" then
      return wrk.format("PUT", "/v2/keys/" .. key,
        { ["Content-Type"] = "application/x-www-form-urlencoded" },
        "value=" .. M.value(i, bytes))
    elseif op == "read" then
      return wrk.format("GET", "/v2/keys/" .. key .. "?quorum=true")
    elseif op == "stale" then
      return wrk.format("GET", "/v2/keys/" .. key)
    end
  end
  error("unknown api/op: " .. tostring(api) .. "/" .. tostring(op))
end


return M
