#!/usr/bin/env bash
# `make demo`: CRAT on http://localhost:${PORT:-8000} with a package server and a test
# server double on free 127.0.0.1 ports, seeded so that one click runs a deploy-test:
#   - package server (devpeers/package_server.py, nginx autoindex look-alike) over a temp
#     folder holding CDN/pass/20250613-master-demo/el7/cds-1.0.0-demo.x86_64.tar.gz + .sha256
#   - test server double (devpeers/test_server.py): deploy ${DEMO_DEPLOY_SECONDS:-8} s,
#     test ${DEMO_TEST_SECONDS:-15} s, then a completed run with an Allure-style report
#   - CRAT (`cargo run -p local --bin crat`) with CRAT_DATA_DIR=./data-demo, ADMIN_PASSWD=demo
# Seeding (idempotent, a re-run reuses ./data-demo): settings, parameter set `demo`, test
# item `cds` for job CDN_CORE, build 1 of CDN_CORE via the Jenkins webhook, and that build
# selected as the job's version.
#
# Usage: scripts/demo.sh [--trigger] [--exit]
#   --trigger  trigger the deploy-test once after seeding and follow the run
#   --exit     stop everything after seeding (and the triggered run) instead of waiting
# Ctrl-C stops all three servers. Logs: .tmp/demo/*.log
set -euo pipefail
cd "$(dirname "$0")/.."

trigger=0
stay=1
for arg in "$@"; do
  case "$arg" in
    --trigger) trigger=1 ;;
    --exit) stay=0 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

CARGO=${CARGO:-cargo}
PORT=${PORT:-8000}
DATA_DIR=./data-demo
JOB=CDN_CORE
PACKAGE_PATH=CDN/pass/20250613-master-demo/el7
PACKAGE_FILE=cds-1.0.0-demo.x86_64.tar.gz
log_dir=.tmp/demo
mkdir -p "$log_dir"

pids=()
pkg_root=$(mktemp -d)
cleanup() {
  trap - EXIT INT TERM
  if [ "${#pids[@]}" -gt 0 ]; then
    echo
    echo "demo: stopping (pids ${pids[*]})"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  fi
  rm -rf "$pkg_root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "demo: $*" >&2; exit 1; }

# json PATH < body: the value at a dotted path (python, no jq), "" when absent.
json() { python3 -c 'import json,sys
try:
    v = json.load(sys.stdin)
    for k in sys.argv[1].split(".") if sys.argv[1] else []:
        v = v[int(k)] if isinstance(v, list) else v[k]
except Exception:
    sys.exit(0)
print(v if not isinstance(v, (dict, list)) else json.dumps(v))' "$1"; }

# find_id KEY=VALUE... < list body: the id of the first item of {"items": [...]} matching all pairs.
find_id() { python3 -c 'import json,sys
want = dict(a.split("=", 1) for a in sys.argv[1:])
try:
    items = json.load(sys.stdin).get("items", [])
except Exception:
    items = []
for it in items:
    if all(str(it.get(k)) == v for k, v in want.items()):
        print(it["id"]); break' "$@"; }

# wait_for_line LOGFILE PID: prints the URL a peer announces on its first stdout line.
wait_for_url() {
  local log=$1 pid=$2
  for _ in $(seq 1 100); do
    if grep -q ' on http://' "$log" 2>/dev/null; then
      sed -n 's/.* on \(http:\/\/[^ ]*\).*/\1/p' "$log" | head -1
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}

# api METHOD PATH [BODY] [TOKEN]: sets $code and $body.
api() {
  local method=$1 path=$2 data=${3:-} token=${4:-}
  local args=(-sS -X "$method" -o "$log_dir/response" -w '%{http_code}')
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
  [ -n "${WEBHOOK_TOKEN:-}" ] && [ "$path" = /api/v1/builds ] && args+=(-H "X-CRAT-Token: $WEBHOOK_TOKEN")
  code=$(curl "${args[@]}" "$crat_url$path") || code=000
  body=$(cat "$log_dir/response" 2>/dev/null || true)
}
ok_or_die() { # WHAT ACCEPTED_CODES...
  local what=$1; shift
  for c in "$@"; do [ "$code" = "$c" ] && return 0; done
  die "$what answered HTTP $code: $body"
}

if curl -s -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; then
  die "something already listens on 127.0.0.1:$PORT (set PORT=... to use another port)"
fi

# --- the package ------------------------------------------------------------------
pkg_dir="$pkg_root/$PACKAGE_PATH"
mkdir -p "$pkg_dir"
python3 - "$pkg_dir" "$PACKAGE_FILE" <<'PY'
import hashlib, io, os, sys, tarfile, time
folder, name = sys.argv[1], sys.argv[2]
top = name[: -len(".x86_64.tar.gz")]
files = {
    f"{top}/VERSION": b"1.0.0-demo\n",
    f"{top}/bin/cds": b"#!/bin/sh\necho 'cds 1.0.0-demo (a demo package made by scripts/demo.sh)'\n",
    f"{top}/etc/cds.conf": b"listen 8080\ncache_dir /var/cache/cds\n",
    f"{top}/README": b"Demo package for CRAT's make demo. Nothing to install.\n" * 20,
}
path = os.path.join(folder, name)
with tarfile.open(path, "w:gz") as tar:
    for member, data in files.items():
        info = tarfile.TarInfo(member)
        info.size = len(data)
        info.mtime = int(time.time())
        info.mode = 0o755 if "/bin/" in member else 0o644
        tar.addfile(info, io.BytesIO(data))
digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
with open(path + ".sha256", "w") as f:
    f.write(f"{digest}  {name}\n")
PY

# --- the peers --------------------------------------------------------------------
python3 devpeers/package_server.py --root "$pkg_root" --host 127.0.0.1 --port 0 >"$log_dir/package_server.log" 2>&1 &
pids+=("$!")
pkg_url=$(wait_for_url "$log_dir/package_server.log" "${pids[-1]}") || die "package server did not start"

python3 devpeers/test_server.py --host 127.0.0.1 --port 0 \
  --deploy-seconds "${DEMO_DEPLOY_SECONDS:-8}" --test-seconds "${DEMO_TEST_SECONDS:-15}" \
  --state-file "$log_dir/test_server_state.json" >"$log_dir/test_server.log" 2>&1 &
pids+=("$!")
ts_url=$(wait_for_url "$log_dir/test_server.log" "${pids[-1]}") || die "test server did not start"
echo "demo: package server $pkg_url (root $pkg_root), test server $ts_url"

# --- CRAT -------------------------------------------------------------------------
echo "demo: building CRAT (cargo build -p local --bin crat)"
"$CARGO" build -p local --bin crat || die "cargo build failed"
crat_url="http://127.0.0.1:$PORT"
CRAT_DATA_DIR="$DATA_DIR" ADMIN_PASSWD=demo PORT="$PORT" CRAT_BIND=127.0.0.1 \
  "$CARGO" run -q -p local --bin crat >"$log_dir/crat.log" 2>&1 &
pids+=("$!")
crat_pid=${pids[-1]}
for _ in $(seq 1 300); do
  curl -fsS "$crat_url/healthz" >/dev/null 2>&1 && break
  kill -0 "$crat_pid" 2>/dev/null || { tail -30 "$log_dir/crat.log" >&2; die "CRAT exited; see $log_dir/crat.log"; }
  sleep 0.2
done
curl -fsS "$crat_url/healthz" >/dev/null || { tail -30 "$log_dir/crat.log" >&2; die "CRAT did not answer /healthz"; }
echo "demo: CRAT up on $crat_url (data in $DATA_DIR)"

# --- seeding ----------------------------------------------------------------------
api POST /api/v1/auth/login '{"email":"admin@example.com","password":"demo"}'
ok_or_die "admin login" 200
admin=$(echo "$body" | json token)

api PUT /api/v1/settings "{\"package_download_base_url\":\"$pkg_url/\",\"external_test_server_url\":\"$ts_url\",\"poll_interval_seconds\":5}" "$admin"
ok_or_die "PUT /settings" 200

api POST /api/v1/parameter-sets '{"name":"demo","description":"made by scripts/demo.sh","params":{"install_dir":"/opt/cdn","upgrade_type":"full"}}' "$admin"
ok_or_die "create parameter set" 200 201 409
set_id=$(echo "$body" | json id)
if [ "$code" = 409 ] || [ -z "$set_id" ]; then
  api GET '/api/v1/parameter-sets?limit=200' "" "$admin"
  set_id=$(echo "$body" | find_id name=demo)
fi
[ -n "$set_id" ] || die "parameter set demo not found"

api POST /api/v1/test-items "{\"name\":\"cds\",\"job_name\":\"$JOB\",\"parameter_set_id\":$set_id,\"description\":\"demo item\",\"enabled\":true}" "$admin"
ok_or_die "create test item" 200 201 409
item_id=$(echo "$body" | json id)
if [ "$code" = 409 ] || [ -z "$item_id" ]; then
  api GET '/api/v1/test-items?limit=200' "" "$admin"
  item_id=$(echo "$body" | find_id name=cds job_name=$JOB)
fi
[ -n "$item_id" ] || die "test item cds not found"

api POST /api/v1/builds "{\"BUILD_USER\":\"JenkinsUser\",\"JOB_NAME\":\"$JOB\",\"PACKAGE_PATH\":\"$PACKAGE_PATH\",\"BUILD_NUMBER\":\"1\"}"
ok_or_die "Jenkins webhook" 200 201 409
build_id=$(echo "$body" | json id)
[ -n "$build_id" ] || die "webhook answered no build id: $body"

# Select build 1 as the job's version (the deploy-test uses it when no build is given).
api POST /api/v1/auth/login '{"email":"demo@example.com"}'
user=$(echo "$body" | json token)
api PUT /api/v1/job-versions "{\"job_name\":\"$JOB\",\"build_id\":$build_id,\"auto_sync\":false}" "$user"
[ "$code" = 200 ] || echo "demo: note: selecting the job version answered HTTP $code (continuing)"

echo "demo: seeded: parameter set demo (id $set_id), test item cds (id $item_id), $JOB build 1 (id $build_id)"

trigger_cmd="curl -sS -X POST $crat_url/api/v1/test-items/$item_id/deploy-test -H 'Content-Type: application/json' -H \"Authorization: Bearer \$TOKEN\" -d '{\"build_info_id\": $build_id}'"

if [ "$trigger" = 1 ]; then
  api POST "/api/v1/test-items/$item_id/deploy-test" "{\"build_info_id\":$build_id}" "$user"
  case "$code" in
    202|200|201)
      run_id=$(echo "$body" | json id)
      echo "demo: triggered run $run_id; following it"
      status=""
      for _ in $(seq 1 120); do
        api GET "/api/v1/deploy-test-runs/$run_id" "" "$user"
        new=$(echo "$body" | json status)
        [ "$new" != "$status" ] && echo "demo:   run $run_id: $new" && status=$new
        case "$status" in COMPLETED|FAILED|CANCELLED) break ;; esac
        sleep 1
      done
      echo "demo: run $run_id ended $status: $(echo "$body" | json summary) $(echo "$body" | json error_message)"
      ;;
    404) echo "demo: the deploy-test endpoint is not there yet (404); seeding is done anyway" ;;
    409) echo "demo: a run is already active (409): $body" ;;
    *) echo "demo: trigger answered HTTP $code: $body" ;;
  esac
fi

cat <<EOF

  CRAT demo is running.
    open          http://localhost:$PORT  (log in with any email, no password; admin: admin@example.com / demo)
    then          pick job $JOB build 1, test item cds, press Trigger
    or with curl  TOKEN=\$(curl -sS -X POST $crat_url/api/v1/auth/login -H 'Content-Type: application/json' -d '{"email":"you@example.com"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
                  $trigger_cmd
    package       $pkg_url/$PACKAGE_PATH/
    test server   $ts_url  (tasks: $ts_url/_tasks, faults: POST $ts_url/_control)
    logs          $log_dir/{crat,package_server,test_server}.log
  Ctrl-C stops all three servers.
EOF

[ "$stay" = 1 ] || exit 0
while :; do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "a server (pid $pid) exited; see $log_dir/*.log"
  done
  sleep 1
done
