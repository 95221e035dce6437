-- wrk script: POSTs one GraphQL query to /graphql.
--   BENCH_QUERY     the query text (JSON-escaped by this script)
--   BENCH_TOKEN     Bearer token
--   BENCH_NO_CACHE  "1": send Cache-Control: no-cache
--   BENCH_DISTINCT  "1": append a different `offset` to every request, so
--                   no two concurrent requests are identical (nothing shared)
local query = os.getenv("BENCH_QUERY")
local token = os.getenv("BENCH_TOKEN") or "admin-token-1"
local no_cache = os.getenv("BENCH_NO_CACHE") == "1"
local distinct = os.getenv("BENCH_DISTINCT") == "1"

local function json_string(s)
  return '"' .. s:gsub('\\', '\\\\'):gsub('"', '\\"') .. '"'
end

local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. token,
}
if no_cache then
  headers["Cache-Control"] = "no-cache"
end

local threads = {}
function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

local counter = 0
function request()
  counter = counter + 1
  local q = query
  if distinct then
    -- Offsets 0..399, interleaved between threads.
    local offset = ((counter * 2) + (thread_id or 0)) % 400
    q = query:gsub("first: 20", "first: 20, offset: " .. offset, 1)
  end
  return wrk.format("POST", "/graphql", headers, '{"query":' .. json_string(q) .. '}')
end

-- GraphQL errors come with status 200: count them from the bodies.
errors = 0
function response(status, headers, body)
  if status ~= 200 or body:find('"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("errors") or 0)
  end
  io.write(string.format("GraphQL errors: %d\n", total))
end
