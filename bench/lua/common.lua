-- Shared by every scenario (the bench prepends it to the scenario's own file).
-- Settings come from the environment the bench sets; each wrk thread has its own Lua state.

local token = os.getenv("BENCH_TOKEN") or ""
local records = tonumber(os.getenv("BENCH_RECORDS") or "1")
local prefix = os.getenv("BENCH_PREFIX") or "bench-"
local run_tag = os.getenv("BENCH_RUN") or "run"
local list_path = os.getenv("BENCH_PATH") or "/api/resources/customers?limit=100"

local auth_headers = { ["Authorization"] = "Bearer " .. token }
local json_headers = {
  ["Authorization"] = "Bearer " .. token,
  ["Content-Type"] = "application/json",
}

local thread_count = 0
local new_count = 0

-- Runs in the main state once per thread, before the thread starts: gives each a number so
-- its random stream and its new ids differ from the other threads'.
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
end

function init(args)
  math.randomseed(os.time() + 7919 * (thread_no or 0))
end

-- The seeded ids are prefix .. 7-digit index (bench/documents.py makes the same ones).
function existing_id()
  return string.format("%s%07d", prefix, math.random(0, records - 1))
end

function new_id()
  new_count = new_count + 1
  return string.format("%snew-%s-%d-%d", prefix, run_tag, thread_no or 0, new_count)
end

-- Changeable customer fields; a PATCH sets 2 or 3 of them, picked at random.
local fields = {
  function(n) return '"email":"user' .. n .. '@example.com"' end,
  function(n) return '"phone":"+1555' .. string.format("%07d", n % 10000000) .. '"' end,
  function(n) return '"firstName":"First' .. n .. '"' end,
  function(n) return '"lastName":"Last' .. n .. '"' end,
  function(n) return '"emailOptOut":' .. (n % 2 == 0 and "true" or "false") end,
  function(n) return '"smsOptOut":' .. (n % 3 == 0 and "true" or "false") end,
  function(n) return '"customerDetailUrl":"https://crm.example.com/c/' .. n .. '"' end,
}

local function some_fields()
  local order = {}
  for i = 1, #fields do order[i] = i end
  local count = math.random(2, 3)
  local parts = {}
  local n = math.random(1, 1000000000)
  for i = 1, count do
    local j = math.random(i, #order)
    order[i], order[j] = order[j], order[i]
    parts[i] = fields[order[i]](n)
  end
  return table.concat(parts, ",")
end

function get_request()
  return wrk.format("GET", "/api/resources/customers/" .. existing_id(), auth_headers)
end

function patch_request()
  local body = '{"data":{' .. some_fields() .. '}}'
  return wrk.format("PATCH", "/api/resources/customers/" .. existing_id(), json_headers, body)
end

-- Half merge into an existing record, half create a new one (which needs the required fields).
function upsert_request()
  local body
  if math.random() < 0.5 then
    body = '{"data":{"customerId":"' .. existing_id() .. '",' .. some_fields() .. '}}'
  else
    -- The required names go last and only if some_fields() did not pick them: the server
    -- refuses duplicate keys.
    local extra = some_fields()
    local names = ""
    if not extra:find('"firstName"', 1, true) then names = names .. ',"firstName":"New"' end
    if not extra:find('"lastName"', 1, true) then names = names .. ',"lastName":"Customer"' end
    body = '{"data":{"customerId":"' .. new_id() .. '","createdAt":"2026-01-01T00:00:00Z",'
      .. extra .. names .. '}}'
  end
  return wrk.format("POST", "/api/resources/customers", json_headers, body)
end

function list_request()
  return wrk.format("GET", list_path, auth_headers)
end

-- One JSON line the bench parses. Errors are socket errors plus HTTP statuses >= 400.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
