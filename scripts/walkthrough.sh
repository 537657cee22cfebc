#!/usr/bin/env bash
# A scripted walk through the local server with curl, as a newcomer would do it:
# an admin creates a parameter set and a test item for job CDN_CORE, Jenkins posts two
# builds, a user selects the first, syncs to the newest and reads it back.
# Runs the real `crat` binary (target/debug/crat) on a free port with a throwaway data folder.
set -euo pipefail
cd "$(dirname "$0")/.."

crat=${CRAT_BIN:-target/debug/crat}
[ -x "$crat" ] || { echo "walkthrough: $crat not built (cargo build -p local)" >&2; exit 1; }
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port/api/v1"

CRAT_DATA_DIR="$data" CRAT_BIND=127.0.0.1 PORT="$port" ADMIN_PASSWD=walk-admin-pass "$crat" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

passed=0
step() { echo "walkthrough: $1"; }
# json FIELD_PATH < body: prints the value at a dotted path (python, no jq needed)
json() { python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v[int(k)] if isinstance(v,list) else v[k]
print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$1"; }
expect() { # expect WHAT ACTUAL WANTED
  if [ "$2" != "$3" ]; then echo "walkthrough FAILED: $1: got '$2', want '$3'" >&2; cat "$data/server.log" >&2; exit 1; fi
  passed=$((passed + 1))
}
post() { curl -sS -X POST -H 'Content-Type: application/json' "$@"; }

step "admin logs in"
admin=$(post "$base/auth/login" -d '{"email":"admin@example.com","password":"walk-admin-pass"}' | json token)

step "admin creates a parameter set and a test item for CDN_CORE"
set_id=$(post "$base/parameter-sets" -H "Authorization: Bearer $admin" \
  -d '{"name":"cdn-default","params":{"install_dir":"/opt/cdn","upgrade_type":"full"}}' | json id)
item=$(post "$base/test-items" -H "Authorization: Bearer $admin" \
  -d "{\"name\":\"cds\",\"job_name\":\"CDN_CORE\",\"parameter_set_id\":$set_id}")
expect "test item job" "$(echo "$item" | json job_name)" "CDN_CORE"

step "Jenkins posts two builds"
for n in 101 102; do
  code=$(post -o /dev/null -w '%{http_code}' "$base/builds" \
    -d "{\"BUILD_USER\":\"JenkinsUser\",\"JOB_NAME\":\"CDN_CORE\",\"PACKAGE_PATH\":\"CDN/pass/20250613-master-$n/el7\",\"BUILD_NUMBER\":\"$n\"}")
  expect "webhook $n" "$code" "201"
done

step "a user logs in and selects the first build"
user=$(post "$base/auth/login" -d '{"email":"dev@example.com"}' | json token)
first=$(curl -sS "$base/builds?job_name=CDN_CORE&limit=10" -H "Authorization: Bearer $user" | json items.1.id)
selected=$(curl -sS -X PUT "$base/job-versions" -H 'Content-Type: application/json' -H "Authorization: Bearer $user" \
  -d "{\"job_name\":\"CDN_CORE\",\"build_id\":$first,\"auto_sync\":false}")
expect "selected build number" "$(echo "$selected" | json build.build_number)" "101"

step "the user syncs to the newest build and reads it back"
post "$base/job-versions/CDN_CORE/sync" -H "Authorization: Bearer $user" >/dev/null
readback=$(curl -sS "$base/job-versions/CDN_CORE" -H "Authorization: Bearer $user")
expect "synced build number" "$(echo "$readback" | json build.build_number)" "102"
expect "synced by" "$(echo "$readback" | json updated_by)" "dev@example.com"

echo "walkthrough: $passed passed, 0 failed"
