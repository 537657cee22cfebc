#!/usr/bin/env bash
# Fuzzes the real local server against its own OpenAPI document with schemathesis, every
# check enabled (status-code conformance, positive-data acceptance, response schemas, ...).
# Runs target/debug/crat on 127.0.0.1 on a free port with a throwaway data folder, stops it after.
#   1. an admin-token run over every operation except the ones that end the token's session
#      (logout, DELETE /auth/sessions/{email}, and login, which replaces the admin session);
#   2. a run of those session-ending operations on their own, each with a fresh token.
# Fails on any schemathesis failure or any 5xx the server logged; prints the case counts.
# SCHEMATHESIS_SEED (default 10) picks the cases; SCHEMATHESIS_MAX_EXAMPLES (default 30)
# bounds the time (about 30 s on 2 cores; 100 examples: 90 s). One worker: with two,
# CPython 3.11's ast module broke inside schemathesis' coverage phase (SystemError).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

crat=${CRAT_BIN:-target/debug/crat}
st=$(realpath -m "${SCHEMATHESIS:-.venv/bin/schemathesis}")
examples=${SCHEMATHESIS_MAX_EXAMPLES:-30}
seed=${SCHEMATHESIS_SEED:-10}
[ -x "$crat" ] || { echo "schemathesis: $crat not built (cargo build -p local)" >&2; exit 1; }
[ -x "$st" ] || { echo "schemathesis: $st not installed (make test-deps)" >&2; exit 1; }
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
origin="http://127.0.0.1:$port"
base="$origin/api/v1"

CRAT_DATA_DIR="$data" CRAT_BIND=127.0.0.1 PORT="$port" ADMIN_PASSWD=fuzz-admin-pass DEBUG=false "$crat" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -fsS "$origin/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

login() { # login EMAIL: prints an admin token
  curl -fsS -X POST -H 'Content-Type: application/json' "$base/auth/login" \
    -d "{\"email\":\"$1\",\"password\":\"fuzz-admin-pass\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

# Some data so that ids and names in the generated cases sometimes exist.
admin=$(login admin@example.com)
auth=(-H "Authorization: Bearer $admin" -H 'Content-Type: application/json')
curl -fsS "${auth[@]}" -X POST "$base/parameter-sets" -d '{"name":"fuzz-default","params":{}}' >/dev/null
curl -fsS "${auth[@]}" -X POST "$base/test-items" -d '{"name":"cds","job_name":"CDN_CORE"}' >/dev/null
curl -fsS "${auth[@]}" -X POST "$base/builds" \
  -d '{"JOB_NAME":"CDN_CORE","PACKAGE_PATH":"CDN/pass/1/el7","BUILD_NUMBER":"1"}' >/dev/null

session_ending='^/api/v1/auth/(logout|login|sessions/\{email\})$'
run() { # run NAME ARGS...: one schemathesis run; its output also in $data/NAME.out
  local name=$1
  shift
  echo "schemathesis: $name run"
  # Run inside the throwaway folder: Hypothesis' example database and schemathesis' cache
  # stay out of the repository, and every run starts from the same seed alone.
  (cd "$data" && "$st" --config-file "$root/schemathesis.toml" run "$base/openapi.json" --checks all \
    --max-examples "$examples" --workers 1 --seed "$seed" --no-color --suppress-health-check all \
    "$@") 2>&1 | tee "$data/$name.out"
  return "${PIPESTATUS[0]}"
}
# Every token the script needs is taken now, before any fuzz run: the login run sends wrong
# passwords, and after 20 failures from one client IP (shared/src/domain/session.rs) every
# login from 127.0.0.1 gets 429 for 15 minutes, so a login after it would fail the script.
# For the same reason the login run goes last.
ops=('POST /api/v1/auth/logout' 'DELETE /api/v1/auth/sessions/{email}' 'POST /api/v1/auth/login')
tokens=()
for i in "${!ops[@]}"; do
  t=$(login "fuzz-$i-$RANDOM@example.com")
  tokens+=("$t")
done
status=0
run token -H "Authorization: Bearer $admin" --exclude-path-regex "$session_ending" || status=$?
# The session-ending operations on their own, each with its own fresh admin session.
for i in "${!ops[@]}"; do
  op=${ops[$i]}
  run "session-${op%% *}-$(echo "${op#* }" | tr -c 'a-z\n' '_')" -H "Authorization: Bearer ${tokens[$i]}" \
    --include-name "$op" || status=$?
done

# The server's own record of what it answered (colour codes stripped).
server_errors=$(sed 's/\x1b\[[0-9;]*m//g' "$data/server.log" | grep -c 'status=5[0-9][0-9]' || true)
answered=$(sed 's/\x1b\[[0-9;]*m//g' "$data/server.log" | grep -c 'finished processing request' || true)
total=0
echo "schemathesis: generated test cases"
for f in "$data"/*.out; do
  n=$(grep -Eo '^ *[0-9]+ generated' "$f" | tail -1 | tr -dc '0-9')
  echo "  $(basename "$f" .out): ${n:-0}"
  total=$((total + ${n:-0}))
done
echo "schemathesis: $total test cases generated in all"
echo "schemathesis: the server answered $answered requests, $server_errors of them 5xx"
if [ "$status" -ne 0 ] || [ "$server_errors" -ne 0 ]; then
  echo "schemathesis FAILED (exit $status, $server_errors server errors); server log:" >&2
  grep -i 'error' "$data/server.log" | tail -20 >&2 || true
  exit 1
fi
echo "schemathesis: 0 failures, 0 server errors"
