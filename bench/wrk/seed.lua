-- Seeds BENCH_SEED_BUILDS builds over BENCH_SEED_JOBS jobs (BENCH_J00, BENCH_J01, …) through
-- the webhook, so the rows are exactly what the API stores. Build i (0-based, interleaved
-- over the threads) is job i % jobs, build number i // jobs + 1. A thread stops once it has
-- seen a 201 for each of its builds; until then, requests past its share repeat earlier
-- builds (idempotent 200s that add nothing). wrk itself runs until -d ends, so a stopping
-- thread appends a line to BENCH_SEED_MARKER and bench/http.sh interrupts wrk once every
-- thread has. (wrk calls request() once more on thread 0 to check it, so that thread's
-- first pass skips its build 0 and sends it first thing in the repeat pass.)
local next_thread = 0
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "2")
function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

local total = tonumber(os.getenv("BENCH_SEED_BUILDS") or "100000")
local jobs = tonumber(os.getenv("BENCH_SEED_JOBS") or "50")
local headers = { ["Content-Type"] = "application/json", ["X-CRAT-Token"] = os.getenv("BENCH_WEBHOOK_TOKEN") or "" }
local share, sent, created, stopped = 0, 0, 0, false
local function stop(reason)
  if stopped then return end
  stopped = true
  local marker = io.open(os.getenv("BENCH_SEED_MARKER"), "a")
  marker:write(reason .. "\n")
  marker:close()
  wrk.thread:stop()
end
function init(args)
  share = math.floor(total / thread_count)
  if thread_index < total % thread_count then share = share + 1 end
end

function request()
  local n = sent % share
  sent = sent + 1
  local i = thread_index + thread_count * n
  local body = string.format(
    '{"BUILD_USER":"bench","JOB_NAME":"BENCH_J%02d","PACKAGE_PATH":"CDN/pass/20250613-master-27580974441fd35aa299d78a392aa4b59b018c27/el7","BUILD_NUMBER":"%d"}',
    i % jobs, math.floor(i / jobs) + 1)
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    if created >= share then stop("seeded " .. share) end
  elseif status ~= 200 then
    stop("failed: status " .. status .. ": " .. body)
  end
end

function done(summary, latency, requests)
  io.write(string.format("WRK_SEED requests=%d seconds=%.1f status_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.errors.status))
end
