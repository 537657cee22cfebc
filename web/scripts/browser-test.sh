#!/usr/bin/env bash
# Browser tests of the web site: Debian Chromium driven by playwright-core, against the real
# local server (target/debug/crat) and the development peers, all on free 127.0.0.1 ports.
#
#   web/scripts/browser-test.sh            (from anywhere; `make test` runs it)
#
# Needs: web/dist (make web), web/node_modules (npm ci in web/), /usr/bin/chromium
# (apt-get install -y chromium), python3, and cargo (it builds the crat binary if needed;
# CARGO=... to use another). Screenshots go to web/test-artifacts/. Everything it starts is
# stopped by PID on exit, also on failure or Ctrl-C. Logs: web/test-artifacts/logs/.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

CARGO=${CARGO:-cargo}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
artifacts="$root/web/test-artifacts"
logs="$artifacts/logs"

die() { echo "browser-test: $*" >&2; exit 1; }
[ -x "$CHROMIUM" ] || die "$CHROMIUM not found: apt-get install -y chromium"
[ -f web/dist/index.html ] || die "web/dist is not built: make web"
[ -d web/node_modules/playwright-core ] || die "web/node_modules missing: (cd web && npm ci)"

mkdir -p "$logs"
rm -f "$artifacts"/*.png

pids=()
tmp=$(mktemp -d)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# url_from LOG PID PATTERN: the http://... URL on the line matching PATTERN.
url_from() {
  local log=$1 pid=$2 pattern=$3
  for _ in $(seq 1 150); do
    # The line may be there before its URL is (a write in two parts): wait for both.
    local url
    url=$(grep "$pattern" "$log" 2>/dev/null | head -1 | grep -oE 'http://[^ ]+' | head -1 || true)
    if [ -n "$url" ]; then
      echo "$url"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}

echo "browser-test: building crat"
"$CARGO" build -q -p local --bin crat || die "cargo build failed"

# The package the runs download: a real tar.gz, as Jenkins would publish it.
mkdir -p "$tmp/pkg/CDN/pass/x/el7"
python3 - "$tmp/pkg/CDN/pass/x/el7/cds-1.0.0.tar.gz" <<'PY'
import io, sys, tarfile, time
with tarfile.open(sys.argv[1], "w:gz") as tar:
    for name, data in {"cds-1.0.0/VERSION": b"1.0.0\n", "cds-1.0.0/bin/cds": b"#!/bin/sh\necho cds\n"}.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
PY
# The queue's tests add a test item `nightly` on another environment: the same package.
cp "$tmp/pkg/CDN/pass/x/el7/cds-1.0.0.tar.gz" "$tmp/pkg/CDN/pass/x/el7/nightly-1.0.0.tar.gz"
# The test-case results' tests use their own item `shop`.
cp "$tmp/pkg/CDN/pass/x/el7/cds-1.0.0.tar.gz" "$tmp/pkg/CDN/pass/x/el7/shop-1.0.0.tar.gz"

python3 devpeers/package_server.py --root "$tmp/pkg" --host 127.0.0.1 --port 0 >"$logs/package_server.log" 2>&1 &
pids+=("$!")
pkg_url=$(url_from "$logs/package_server.log" "${pids[-1]}" 'package server on') || die "package server did not start"

python3 devpeers/test_server.py --host 127.0.0.1 --port 0 --deploy-seconds 1 --test-seconds 1 >"$logs/test_server.log" 2>&1 &
pids+=("$!")
ts_url=$(url_from "$logs/test_server.log" "${pids[-1]}" 'test server on') || die "test server did not start"

admin_pw="browser-$RANDOM$RANDOM"
CRAT_DATA_DIR="$tmp/data" ADMIN_PASSWD="$admin_pw" PORT=0 CRAT_BIND=127.0.0.1 \
  CRAT_TIME_SCALE=0.05 CRAT_WEB_DIR="$root/web/dist" RUST_LOG=${RUST_LOG:-warn} \
  target/debug/crat >"$logs/crat.log" 2>&1 &
pids+=("$!")
crat_url=$(url_from "$logs/crat.log" "${pids[-1]}" 'CRAT is running at') || die "crat did not start"
crat_url=${crat_url/localhost/127.0.0.1}
for _ in $(seq 1 100); do curl -fsS "$crat_url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "browser-test: crat $crat_url, package server $pkg_url, test server $ts_url"

# In the background + wait, so that a signal reaches the trap at once (and stops node too).
cd web
CRAT_URL="$crat_url" PKG_URL="$pkg_url" TS_URL="$ts_url" ADMIN_PASSWD="$admin_pw" \
  CHROMIUM="$CHROMIUM" ARTIFACTS="$artifacts" \
  node --test --test-concurrency=1 --test-reporter=spec tests/browser.test.mjs &
pids=("$!" "${pids[@]}")
wait "${pids[0]}"
