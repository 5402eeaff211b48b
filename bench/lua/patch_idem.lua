-- PATCH like patch.lua, each request with a fresh Idempotency-Key: the server looks the key
-- up and stores the answer in the write's transaction (compare with the "patch" scenario).
local key_prefix = nil
local key_count = 0

request = function()
  if key_prefix == nil then
    -- Unique across threads, warm-up and repeated runs: a reused key would be a 422.
    key_prefix = string.format("%s-%d-%d-%d", run_tag, thread_no or 0, os.time(),
      math.random(1, 1000000000))
  end
  key_count = key_count + 1
  local headers = {}
  for name, value in pairs(json_headers) do headers[name] = value end
  headers["Idempotency-Key"] = key_prefix .. "-" .. key_count
  local body = '{"data":{' .. some_fields() .. '}}'
  return wrk.format("PATCH", "/api/resources/customers/" .. existing_id(), headers, body)
end
