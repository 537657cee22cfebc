-- Shared by the bench/wrk scripts: after the run, one machine-readable line for bench/http.sh
-- (requests/s, p99 in µs, requests answered with a status over 399, socket errors).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT rps=%.1f p99_us=%d status_errors=%d socket_errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout, summary.requests))
end
