#!/usr/bin/env bash
# `make test-cloud`: the cloud-fidelity test. moto's own Step Functions interpreter runs
# statemachine/deploy_test.asl.json (Lambda ARNs substituted) with its Task states invoking
# the REAL task function binaries served by `cargo lambda watch`, on moto's DynamoDB,
# against the development peers; functions/local/tests/api/cloud_fidelity/ runs the same three
# scenarios (happy path, missing package, a run queued behind another that the first one's
# Finalize starts) through the embedded executor too and asserts both give the same run
# records, states visited and execution ending.
#
# What runs, all on 127.0.0.1, free ports, stopped by PID on any exit:
#   moto        scripts/moto_server.py (single-threaded), DynamoDB + Step Functions, with
#               MOTO_PORT=<proxy port> so its interpreter's Lambda calls go to the proxy
#   proxy       scripts/lambda_proxy.py: /2015-03-31/functions/<fn>/invocations to cargo
#               lambda watch (function errors as 200 + X-Amz-Function-Error), rest to moto
#   watch       cargo lambda watch serving download, trigger, poll, finalize, notify
#               (debug builds in the shared target/, warmed up before the test)
#   the test    cargo test -p local --test api cloud_fidelity:: (it starts the dev peers itself)
# Logs: .tmp/cloud-fidelity/*.log. Needs `make test-deps` (moto, cargo-lambda in .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
venv=.venv
# The Python that runs moto (default: the test venv's); e.g. another venv to try a moto version.
moto_python=${MOTO_PYTHON:-$venv/bin/python}
log_dir=.tmp/cloud-fidelity
functions=(download trigger poll finalize notify)
# The functions' configuration (the test uses the same values).
table="crat-cloud-fidelity-$(date +%s)-$$"
# The state machine the test creates; the functions get its ARN as STATE_MACHINE_ARN, as
# infra/template.yaml gives it to Finalize (which starts a lane's next queued run there).
state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:crat-deploy-test-$(date +%s)-$$"
jwt_secret=cloud-fidelity-jwt-secret-that-is-long-enough-0123456789
admin_passwd=cloud-fidelity-admin-password

started=$(date +%s)
mkdir -p "$log_dir"
rm -f "$log_dir"/*.log "$log_dir"/functions.env

result="FAILED (setup)"
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The function processes are cargo lambda watch's children, each in its own process
  # group: note their PIDs before stopping watch (which stops them), then make sure.
  local children=()
  if [ -n "${watch_pid:-}" ]; then
    mapfile -t children < <(pgrep -P "$watch_pid" 2>/dev/null || true)
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  echo "cloud-fidelity: $result in $(( $(date +%s) - started )) s (logs: $log_dir/)"
  exit "$rc"
}
trap cleanup EXIT
trap 'result="INTERRUPTED (signal)"; exit 130' INT TERM

die() { echo "cloud-fidelity: $*" >&2; exit 1; }
free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_http URL PID NAME LOG: until URL answers (any HTTP status), or PID dies, or 60 s.
wait_http() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null --max-time 2 "$1" && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited; see $4"
    sleep 0.2
  done
  die "$3 did not answer at $1 within 60 s; see $4"
}
phase() { echo "cloud-fidelity: [$(( $(date +%s) - started )) s] $*"; }

[ -x "$venv/bin/python" ] && "$moto_python" -c 'import moto' 2>/dev/null \
  || die "moto is not installed for $moto_python: run make test-deps"
[ -x "$venv/bin/cargo-lambda" ] || die "cargo-lambda is not installed in $venv: run make test-deps"
export PATH="$PWD/$venv/bin:$PATH"

# 1. Build first (cargo lambda watch compiles on the first invoke: `cargo run --bin <fn>`
#    in this workspace, i.e. the same debug builds in target/). Build exactly that per
#    function, then the test binary, so no compiling happens while servers wait.
phase "building the functions and the test (debug)"
for f in "${functions[@]}"; do
  "$CARGO" build --quiet --bin "$f" 2>&1 | tee -a "$log_dir/build.log" || die "cargo build --bin $f failed; see $log_dir/build.log"
done
"$CARGO" test --quiet -p local --test api --no-run 2>&1 | tee -a "$log_dir/build.log" \
  || die "building the test failed; see $log_dir/build.log"

moto_port=$(free_port)
proxy_port=$(free_port)
while [ "$proxy_port" = "$moto_port" ]; do proxy_port=$(free_port); done
watch_port=$(free_port)
while [ "$watch_port" = "$moto_port" ] || [ "$watch_port" = "$proxy_port" ]; do watch_port=$(free_port); done
moto_url="http://127.0.0.1:$moto_port"
proxy_url="http://127.0.0.1:$proxy_port"
watch_url="http://127.0.0.1:$watch_port"

# 2. moto. One single-threaded server (transaction-isolated DynamoDB, see moto_server.py)
#    serves both DynamoDB and Step Functions: its interpreter runs each execution on a
#    thread of its own and calls out only for the Lambda invocations (to the proxy, then
#    cargo lambda watch); the functions' DynamoDB calls then reach moto's request thread,
#    which is free, so nothing waits on itself. (moto before 5.2.5 fails every
#    StartExecution after the first one that ran: getmoto/moto#10077; requirements-test.txt
#    pins a fixed version.)
phase "starting moto on $moto_url (MOTO_PORT=$proxy_port: Lambda calls go to the proxy)"
# Start python itself (not a wrapper) so $! is the server's own PID.
MOTO_PORT=$proxy_port "$moto_python" scripts/moto_server.py 127.0.0.1 "$moto_port" >"$log_dir/moto.log" 2>&1 &
moto_pid=$!
pids+=("$moto_pid")
wait_http "$moto_url/moto-api/" "$moto_pid" moto "$log_dir/moto.log"
curl -fsS -X POST "$moto_url/moto-api/config" -d '{"stepfunctions":{"execute_state_machine":true}}' >/dev/null \
  || die "could not switch on moto's Step Functions execution"

# 3. The proxy.
phase "starting the Lambda proxy on $proxy_url"
"$venv/bin/python" scripts/lambda_proxy.py --port "$proxy_port" --moto "$moto_url" --lambda "$watch_url" \
  >"$log_dir/proxy.log" 2>&1 &
pids+=("$!")
wait_http "$proxy_url/moto-api/" "$!" proxy "$log_dir/proxy.log"

# 4. cargo lambda watch with the functions' configuration (no SMTP: notify skips the mail).
cat >"$log_dir/functions.env" <<EOF
CRAT_STORE=dynamodb
DYNAMODB_TABLE=$table
STATE_MACHINE_ARN=$state_machine_arn
JWT_SECRET=$jwt_secret
ADMIN_PASSWD=$admin_passwd
CRAT_PUBLIC_URL=http://crat.example.com
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ENDPOINT_URL=$moto_url
AWS_EC2_METADATA_DISABLED=true
RUST_BACKTRACE=1
EOF
phase "starting cargo lambda watch on $watch_url (table $table)"
# cargo-lambda itself (not `cargo lambda`), so $! is its PID; SIGTERM stops its functions too.
# Nothing from the caller's environment may point the functions elsewhere.
env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL_DYNAMODB -u EMAIL_SEND_SERVER \
  -u STATE_MACHINE_ARN -u WEBHOOK_TOKEN -u CRAT_DATA_DIR \
  "$venv/bin/cargo-lambda" lambda watch --invoke-address 127.0.0.1 --invoke-port "$watch_port" \
  --ignore-changes --env-file "$log_dir/functions.env" >"$log_dir/watch.log" 2>&1 &
watch_pid=$!
pids+=("$watch_pid")
wait_http "$watch_url/" "$watch_pid" "cargo lambda watch" "$log_dir/watch.log"

# 5. Warm up: one invocation per function through the proxy (starts each function process;
#    run 0 does not exist, so any answer with errorType or a result will do).
phase "warming up ${functions[*]}"
for f in "${functions[@]}"; do
  t=$(date +%s)
  out=$(curl -sS --max-time 600 -X POST "$proxy_url/2015-03-31/functions/$f/invocations" \
    -H 'Content-Type: application/json' -d '{"run_id": 0}' -D "$log_dir/warmup-$f.headers") \
    || die "warm-up of $f failed; see $log_dir/watch.log"
  head -1 "$log_dir/warmup-$f.headers" | grep -q ' 200' || die "warm-up of $f: $(head -1 "$log_dir/warmup-$f.headers") $out"
  echo "  $f: $(( $(date +%s) - t )) s: $out"
done
rm -f "$log_dir"/warmup-*.headers

# 6. The test.
phase "running functions/local/tests/api/cloud_fidelity/"
test_started=$(date +%s)
set +e
env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL_DYNAMODB -u AWS_ENDPOINT_URL_SFN \
  CRAT_CLOUD_ENDPOINT="$moto_url" AWS_ENDPOINT_URL="$moto_url" CRAT_CLOUD_TABLE="$table" \
  CRAT_CLOUD_STATE_MACHINE_ARN="$state_machine_arn" \
  CRAT_REQUIRE_CLOUD=1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true RUST_BACKTRACE=0 \
  "$CARGO" test --quiet -p local --test api cloud_fidelity:: -- --nocapture 2>&1 | tee "$log_dir/test.log"
rc=${PIPESTATUS[0]}
set -e
test_secs=$(( $(date +%s) - test_started ))
if [ "$rc" -eq 0 ]; then
  result="PASSED (moto Step Functions + Lambda binaries agree with the embedded executor: happy path, missing package, queued; test ${test_secs} s)"
else
  result="FAILED (test exit $rc after ${test_secs} s; see $log_dir/test.log, proxy.log, watch.log, moto.log)"
  exit "$rc"
fi
