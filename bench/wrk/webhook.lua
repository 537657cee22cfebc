-- A new build per request: thread t posts job BENCH_HOOK_T<t> with build numbers 1, 2, 3, …
-- so no request repeats an earlier one (a repeat would be the cheaper idempotent 200).
-- The same body goes to CRAT's webhook and to bench-noop's /webhook-like (the URL names the path).
dofile("bench/wrk/report.lua")

local next_thread = 0
function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

local sent = 0
local headers = { ["Content-Type"] = "application/json", ["X-CRAT-Token"] = os.getenv("BENCH_WEBHOOK_TOKEN") or "" }
function request()
  sent = sent + 1
  local body = string.format(
    '{"BUILD_USER":"bench","JOB_NAME":"BENCH_HOOK_T%d","PACKAGE_PATH":"CDN/pass/20250613-master-27580974441fd35aa299d78a392aa4b59b018c27/el7","BUILD_NUMBER":"%d"}',
    thread_index, sent)
  return wrk.format("POST", nil, headers, body)
end
