#!/usr/bin/env bash
# HTTP benchmark (make bench): CRAT's local server (`crat`, release) against bench-noop (the
# same HTTP stack with no storage, bench/noop), measured one after the other in the same run
# with wrk (BENCH_THREADS × BENCH_CONNECTIONS, BENCH_SECONDS each). Rows, one TSV line each
# on stdout (work, peer, crat, ratio, goal, met); progress goes to stderr:
#   - the webhook, a new build per request (bench/wrk/webhook.lua) vs the no-op POST;
#   - GET /api/v1/builds?job_name=<j>&limit=20 with a user token, BENCH_SEED_BUILDS builds
#     over BENCH_SEED_JOBS jobs seeded first through the webhook (bench/wrk/seed.lua), vs
#     the no-op GET of a synthesised page of 20 builds;
#   - start-to-ready (process start → first 200 from /healthz) and idle RSS, fresh data dir.
# Each CRAT measurement gets a fresh data folder under .tmp/ (on disk: SQLite's fsync is real).
# BENCH_CRAT_BIN=path measures that crat binary instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-16}
seconds=${BENCH_SECONDS:-10}
seed_builds=${BENCH_SEED_BUILDS:-100000}
seed_jobs=${BENCH_SEED_JOBS:-50}
starts=${BENCH_STARTS:-5}
export BENCH_THREADS=$threads BENCH_SEED_BUILDS=$seed_builds BENCH_SEED_JOBS=$seed_jobs
export BENCH_WEBHOOK_TOKEN=bench-webhook-token

command -v wrk >/dev/null || { echo "bench/http.sh: wrk is needed: apt-get install -y wrk (make bench installs it)" >&2; exit 1; }
say() { echo "$*" >&2; }

# Built apart: one build of both would unify their features and give the peer CRAT's.
say "building bench-noop (release)…"
cargo build --release -q -p bench-noop --bin bench-noop
if [ -n "${BENCH_CRAT_BIN:-}" ]; then # another build of crat, e.g. before and after a change
  crat_bin=$(realpath "$BENCH_CRAT_BIN")
  say "crat is $crat_bin"
else
  say "building crat (release)…"
  cargo build --release -q -p local --bin crat
  crat_bin=$PWD/target/release/crat
fi
noop_bin=$PWD/target/release/bench-noop

mkdir -p .tmp
work=$(mktemp -d "$PWD/.tmp/bench-http.XXXXXX")
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_ready URL: until URL answers 200 (30 s at most).
wait_ready() {
  for _ in $(seq 1 300); do
    curl -fso /dev/null "$1" && return 0
    kill -0 "$server_pid" 2>/dev/null || { say "the server exited: see its log"; return 1; }
    sleep 0.1
  done
  say "no 200 from $1 within 30 s"; return 1
}

crat_env() { # crat_env DATA_DIR PORT: the local server's environment for a run
  echo CRAT_DATA_DIR="$1" PORT="$2" CRAT_BIND=127.0.0.1 WEBHOOK_TOKEN="$BENCH_WEBHOOK_TOKEN" CRAT_WEB_DIR="$work/no-site"
}

start_crat() { # start_crat NAME: a fresh data folder; sets base
  local port; port=$(free_port)
  mkdir -p "$work/$1"
  env $(crat_env "$work/$1" "$port") "$crat_bin" >"$work/$1.log" 2>&1 &
  server_pid=$!
  base=http://127.0.0.1:$port
  wait_ready "$base/healthz"
}

start_noop() { # sets base
  local port; port=$(free_port)
  "$noop_bin" --bind "127.0.0.1:$port" >"$work/noop.log" 2>&1 &
  server_pid=$!
  base=http://127.0.0.1:$port
  wait_ready "$base/page"
}

# load URL [wrk args…]: one wrk run; prints its WRK_RESULT fields (rps p99_us status_errors socket_errors).
load() {
  local url=$1; shift
  local out
  out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" "$@" "$url")
  say "$(grep -E 'Requests/sec| 99%' <<<"$out" | tr -s ' ' | paste -sd ' ') ($url)"
  sed -n 's/^WRK_RESULT rps=\([^ ]*\) p99_us=\([^ ]*\) status_errors=\([^ ]*\) socket_errors=\([^ ]*\).*/\1 \2 \3 \4/p' <<<"$out"
}

# row WORK GOAL_PERCENT GOAL_P99_MS PEER_RESULT CRAT_RESULT: the TSV line of a load row.
row() {
  python3 - "$@" <<'PY'
import sys
work, goal_pct, goal_p99 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
peer, crat = (list(map(float, a.split())) for a in sys.argv[4:6])
def show(rps, p99_us, status, sock):
    errors = f", {int(status + sock)} errors" if status + sock else ""
    return f"{rps/1000:.1f}k req/s, p99 {p99_us/1000:.1f} ms{errors}"
ratio = 100 * crat[0] / peer[0]
met = ratio >= goal_pct and crat[1] / 1000 <= goal_p99 and crat[2] + crat[3] == 0
print("\t".join([work, show(*peer), show(*crat), f"{ratio:.1f} %",
                 f"≥ {goal_pct:g} %, p99 ≤ {goal_p99:g} ms", "yes" if met else "no"]))
PY
}

# --- webhook, a new build per request --------------------------------------------------
say "webhook: bench-noop POST /webhook-like…"
start_noop
noop_post=$(load "$base/webhook-like" -s bench/wrk/webhook.lua --latency)
stop_server
say "webhook: crat POST /api/v1/builds (fresh data folder)…"
start_crat webhook
crat_post=$(load "$base/api/v1/builds" -s bench/wrk/webhook.lua --latency)
stop_server
row "webhook, a new build per request" 25 10 "$noop_post" "$crat_post"

# --- GET /builds over a seeded store ---------------------------------------------------
start_crat list
say "seeding $seed_builds builds over $seed_jobs jobs through the webhook…"
export BENCH_SEED_MARKER=$work/seed.marker
: >"$BENCH_SEED_MARKER"
wrk -t"$threads" -c"$connections" -d600s -s bench/wrk/seed.lua "$base/api/v1/builds" >"$work/seed.out" &
seed_pid=$!
while kill -0 "$seed_pid" 2>/dev/null && [ "$(wc -l <"$BENCH_SEED_MARKER")" -lt "$threads" ]; do sleep 0.2; done
kill -INT "$seed_pid" 2>/dev/null || true
wait "$seed_pid" || true
if grep -v '^seeded' "$BENCH_SEED_MARKER" >&2 || [ "$(wc -l <"$BENCH_SEED_MARKER")" -lt "$threads" ]; then
  say "seeding failed (above; wrk: $work/seed.out)"; cat "$work/seed.out" >&2; exit 1
fi
say "$(grep WRK_SEED "$work/seed.out")"
token=$(curl -fsS "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# Each thread saw a 201 (a new build) for each of its distinct builds; the jobs list shows
# every job with its highest build number.
per_job=$((seed_builds / seed_jobs))
curl -fsS "$base/api/v1/jobs?limit=200" -H "Authorization: Bearer $token" | python3 -c '
import json, sys
jobs = {j["job_name"]: j["latest_build"]["build_number"] for j in json.load(sys.stdin)["items"]}
want = {f"BENCH_J{j:02d}": int(sys.argv[2]) for j in range(int(sys.argv[1]))}
sys.exit(None if jobs == want else f"seed check: jobs and their newest builds are {jobs}, not {want}")' "$seed_jobs" "$per_job"
say "GET /builds: crat, user token…"
crat_get=$(load "$base/api/v1/builds?job_name=BENCH_J07&limit=20" -H "Authorization: Bearer $token" -s bench/wrk/report.lua --latency)
stop_server
say "GET /builds: bench-noop GET /page…"
start_noop
noop_get=$(load "$base/page" -s bench/wrk/report.lua --latency)
stop_server
row "GET /builds?job_name=&limit=20, ${seed_builds} builds / ${seed_jobs} jobs, user token" 40 5 "$noop_get" "$crat_get"

# --- start-to-ready and idle RSS (median of BENCH_STARTS fresh starts) -----------------
say "start-to-ready and idle RSS ($starts starts each, fresh data folder every time)…"
startup() { # startup NAME: lines of "ready_ms rss_kib"
  for i in $(seq 1 "$starts"); do
    local port; port=$(free_port)
    if [ "$1" = crat ]; then
      mkdir -p "$work/start-$i"
      env $(crat_env "$work/start-$i" "$port") python3 bench/startup.py "$port" /healthz "$crat_bin"
    else
      python3 bench/startup.py "$port" /page "$noop_bin" --bind "127.0.0.1:$port"
    fi
  done
}
noop_starts=$(startup noop)
crat_starts=$(startup crat)
python3 - "$noop_starts" "$crat_starts" <<'PY'
import statistics, sys
noop, crat = ([list(map(float, l.split())) for l in a.splitlines()] for a in sys.argv[1:3])
med = lambda rows, i: statistics.median(r[i] for r in rows)
n_ms, c_ms, n_rss, c_rss = med(noop, 0), med(crat, 0), med(noop, 1) / 1024, med(crat, 1) / 1024
print("\t".join(["local server start-to-ready (fresh data folder, median)", f"{n_ms:.0f} ms",
                 f"{c_ms:.0f} ms", f"{c_ms/n_ms:.1f}×", "-", "-"]))
print("\t".join(["local server idle RSS after start", f"{n_rss:.1f} MiB", f"{c_rss:.1f} MiB",
                 f"{c_rss/n_rss:.1f}×", "-", "-"]))
PY
