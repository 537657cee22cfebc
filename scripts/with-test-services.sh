#!/usr/bin/env bash
# Runs a command with the servers the tests need on 127.0.0.1, and stops them after,
# whatever the command's outcome:
#   - moto (a DynamoDB-compatible server) for the DynamoDB adapter's tests.
#   - real nginx (nginx-light) on its own port, serving a package folder with `autoindex on`
#     (/packages/) and a real Allure 2 report generated once from
#     functions/local/tests/allure-results (every /reports/<task id>/ serves it), for the
#     real-world scenario in functions/local/tests/api/notify_smtp/. Skipped (with a message)
#     when nginx or allure-commandline is missing, unless CRAT_REQUIRE_NGINX=1 (make test).
#   - three real Allure reports of one pytest + allure-pytest run of
#     functions/notify/tests/fixtures/allure_suite (Allure 2; Allure 3's default report;
#     Allure 3 with its allure2 plugin) for the test-case readers' tests in
#     functions/notify/tests/notify/test_cases/ (skipped like the nginx scenario).
# Exports CRAT_TEST_DYNAMODB_ENDPOINT and CRAT_REQUIRE_DYNAMODB=1 so those tests cannot skip,
# CRAT_TEST_NGINX_URL, CRAT_TEST_NGINX_ROOT and CRAT_REQUIRE_NGINX=1 for the nginx one, and
# CRAT_TEST_ALLURE2_REPORT, CRAT_TEST_ALLURE3_REPORT, CRAT_TEST_ALLURE3_COMPAT_REPORT (folders).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
log_dir=.tmp/logs
mkdir -p "$log_dir"

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # nginx's master by its pid file too (should it ever differ from the one started).
  if [[ -n "${rw:-}" ]]; then stop_nginx "$rw/nginx.pid"; fi
}
# Stops the nginx master whose pid is in file $1 (only if that pid is an nginx), then
# waits up to 5 s for it to go (SIGKILL after that).
stop_nginx() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == nginx* ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
trap cleanup EXIT
child=
# A signal stops the command too, then the servers (the EXIT trap).
on_signal() {
  if [[ -n "$child" ]]; then kill "-$1" "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

moto_port=$(free_port)
# Start python itself (not a wrapper script) so $! is the server's own PID.
"$venv/bin/python" scripts/moto_server.py 127.0.0.1 "$moto_port" >"$log_dir/moto.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$moto_port/moto-api/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$moto_port/moto-api/" >/dev/null || { echo "moto did not start; see $log_dir/moto.log" >&2; exit 1; }
echo "moto (DynamoDB) on 127.0.0.1:$moto_port"

# Both npm packages declare a bin named `allure`: call each by its own path.
allure_bin=node_modules/allure-commandline/bin/allure
allure3_cli=node_modules/allure/cli.js

# The test-case readers' real reports: one pytest run, three reports made from its results.
suite=functions/notify/tests/fixtures/allure_suite
if [[ -x "$allure_bin" && -f "$allure3_cli" && -x "$venv/bin/pytest" ]] && command -v java >/dev/null 2>&1 \
  && "$venv/bin/python" -c 'import allure_pytest' 2>/dev/null; then
  tc="$PWD/.tmp/test-case-reports"
  rm -rf "$tc"
  mkdir -p "$tc"
  started=$(date +%s%N)
  # pytest exits 1 when tests fail, as some of these do on purpose; anything else is an error.
  pytest_rc=0
  (cd "$suite" && PYTHONDONTWRITEBYTECODE=1 "$OLDPWD/$venv/bin/pytest" -q -p no:cacheprovider \
    test_report_cases.py --alluredir "$tc/results") >"$log_dir/allure-suite.log" 2>&1 || pytest_rc=$?
  [[ "$pytest_rc" == 0 || "$pytest_rc" == 1 ]] || { echo "pytest of $suite failed ($pytest_rc); see $log_dir/allure-suite.log" >&2; exit 1; }
  "$allure_bin" generate "$tc/results" -o "$tc/allure2" --clean >>"$log_dir/allure-suite.log" 2>&1 \
    && node "$allure3_cli" generate "$tc/results" -o "$tc/allure3" >>"$log_dir/allure-suite.log" 2>&1 \
    && node "$allure3_cli" generate "$tc/results" --config "$suite/allurerc-allure2.mjs" -o "$tc/allure3-compat" >>"$log_dir/allure-suite.log" 2>&1 \
    || { echo "an Allure report of $suite could not be generated; see $log_dir/allure-suite.log" >&2; exit 1; }
  for f in allure2/data/suites.json allure3/widgets/tree.json allure3-compat/data/suites.json; do
    [[ -f "$tc/$f" ]] || { echo "the Allure report has no $f; see $log_dir/allure-suite.log" >&2; exit 1; }
  done
  echo "Allure 2 and 3 reports of $suite generated in $(( ($(date +%s%N) - started) / 1000000 )) ms"
  export CRAT_TEST_ALLURE2_REPORT="$tc/allure2"
  export CRAT_TEST_ALLURE3_REPORT="$tc/allure3"
  export CRAT_TEST_ALLURE3_COMPAT_REPORT="$tc/allure3-compat"
elif [[ "${CRAT_REQUIRE_NGINX:-}" == 1 ]]; then
  echo "CRAT_REQUIRE_NGINX=1 but $allure_bin, $allure3_cli, java, pytest or allure-pytest is missing (make test-deps installs them)" >&2
  exit 1
else
  echo "allure-commandline, allure (3), java, pytest or allure-pytest missing: the test-case report scenarios will be skipped"
fi

nginx_bin=${NGINX:-/usr/sbin/nginx}
if [[ -x "$nginx_bin" && -x "$allure_bin" ]] && command -v java >/dev/null 2>&1; then
  rw="$PWD/.tmp/real-world"
  # An nginx left over from an earlier run (killed before its cleanup) goes first.
  stop_nginx "$rw/nginx.pid"
  rm -rf "$rw"
  mkdir -p "$rw/www/packages" "$rw/tmp"
  started=$(date +%s%N)
  "$allure_bin" generate functions/local/tests/allure-results -o "$rw/www/report" --clean >"$log_dir/allure.log" 2>&1 \
    || { echo "allure generate failed; see $log_dir/allure.log" >&2; exit 1; }
  [[ -f "$rw/www/report/widgets/summary.json" ]] || { echo "allure wrote no widgets/summary.json" >&2; exit 1; }
  echo "Allure 2 report generated in $(( ($(date +%s%N) - started) / 1000000 )) ms"
  nginx_port=$(free_port)
  cat >"$rw/nginx.conf" <<CONF
daemon off;
worker_processes 1;
$( ((EUID == 0)) && echo "user root;" )
pid $rw/nginx.pid;
error_log $rw/error.log warn;
events { worker_connections 64; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log $rw/access.log;
  client_body_temp_path $rw/tmp/body;
  proxy_temp_path $rw/tmp/proxy;
  fastcgi_temp_path $rw/tmp/fastcgi;
  uwsgi_temp_path $rw/tmp/uwsgi;
  scgi_temp_path $rw/tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location /packages/ { root $rw/www; autoindex on; }
    # One generated report for every task id: /reports/<task id>/... -> report/...
    location ~ ^/reports/[^/]+/(.*)\$ { alias $rw/www/report/\$1; }
  }
}
CONF
  # daemon off: the process started here is the master ($!), and it stays in front.
  "$nginx_bin" -c "$rw/nginx.conf" -p "$rw" -e "$rw/error.log" >"$log_dir/nginx.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$nginx_port/packages/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$nginx_port/reports/any/widgets/summary.json" >/dev/null \
    || { echo "nginx did not serve the report; see $log_dir/nginx.log and $rw/error.log" >&2; exit 1; }
  [[ "$(cat "$rw/nginx.pid" 2>/dev/null)" == "${pids[-1]}" ]] \
    || { echo "nginx's pid file does not name the process started ($!)" >&2; exit 1; }
  echo "nginx (packages + Allure report) on 127.0.0.1:$nginx_port"
  export CRAT_TEST_NGINX_URL="http://127.0.0.1:$nginx_port"
  export CRAT_TEST_NGINX_ROOT="$rw/www"
  export CRAT_REQUIRE_NGINX=1
elif [[ "${CRAT_REQUIRE_NGINX:-}" == 1 ]]; then
  echo "CRAT_REQUIRE_NGINX=1 but nginx ($nginx_bin), $allure_bin or java is missing (make test installs them)" >&2
  exit 1
else
  echo "nginx, allure-commandline or java missing: the real-nginx + Allure scenario will be skipped"
fi

export CRAT_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$moto_port"
export CRAT_REQUIRE_DYNAMODB=1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
# Tests must never reach a real AWS account or the instance metadata service.
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

# In the background (stdin kept) so that a TERM/INT reaches the traps at once: bash runs
# no trap while it waits for a command in the foreground.
"$@" <&0 &
child=$!
rc=0
wait "$child" || rc=$?
child=
exit "$rc"
