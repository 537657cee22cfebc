#!/usr/bin/env bash
# Download benchmark (make bench): the download step (list, stream to disk while hashing
# and checking gzip+tar, sidecar compare) against curl fetching the same file from the
# same real nginx (autoindex on, 127.0.0.1), in the same run, on a package of BENCH_MIB MiB
# (default 1024) with a .sha256 sidecar. Each side runs twice; the best run counts.
# Reports wall time, throughput, peak RSS, and CRAT's throughput as a ratio of curl's.
# Release build. Needs ~2.5x BENCH_MIB of disk and nginx (NGINX, default /usr/sbin/nginx).
# BENCH_TSV=1: the table goes to stderr and stdout gets exactly one TSV row for bench/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${BENCH_MIB:-1024}
nginx_bin=${NGINX:-/usr/sbin/nginx}
tsv=${BENCH_TSV:-0}
work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# In TSV mode everything but the one row goes to stderr.
say() { if [[ "$tsv" == 1 ]]; then echo "$@" >&2; else echo "$@"; fi; }

[[ -x "$nginx_bin" ]] || { echo "nginx not found at $nginx_bin (apt-get install -y nginx-light)" >&2; exit 1; }

say "building (release)…"
cargo build --release -q -p download --example fetch_package
bin=target/release/examples/fetch_package

say "making a ${mib} MiB package (random data, tar + gzip -1, .sha256 sidecar)…"
pkg_dir="$work/www/CDN/bench/el7"
pkg="$pkg_dir/cds-1.0.0-bench.tar.gz"
mkdir -p "$pkg_dir" "$work/payload" "$work/tmp"
head -c "$((mib * 1024 * 1024))" /dev/urandom > "$work/payload/blob"
tar -C "$work/payload" -cf - blob | gzip -1 > "$pkg"
rm -f "$work/payload/blob"
size=$(stat -c %s "$pkg")
# openssl uses SHA-NI where the CPU has it (coreutils sha256sum is ~4x slower); same format.
if command -v openssl > /dev/null; then
  (cd "$pkg_dir" && openssl dgst -sha256 -r cds-1.0.0-bench.tar.gz > cds-1.0.0-bench.tar.gz.sha256)
else
  (cd "$pkg_dir" && sha256sum cds-1.0.0-bench.tar.gz > cds-1.0.0-bench.tar.gz.sha256)
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
$( ((EUID == 0)) && echo "user root;" )
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 64; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { root $work/www; autoindex on; }
  }
}
CONF
# daemon off + master_process off: the process started here is nginx itself ($!).
"$nginx_bin" -p "$work" -c "$work/nginx.conf" -e "$work/error.log" > "$work/nginx.out" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 50); do curl -fsS "$base/CDN/" > /dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$base/CDN/bench/el7/" > /dev/null \
  || { echo "nginx did not start; see its error log:" >&2; cat "$work/error.log" >&2; exit 1; }

# measure NAME CMD...: wall seconds and peak RSS (KiB) of CMD, via python's rusage.
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL)
wall = time.monotonic() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{sys.argv[1]} {wall:.3f} {rss}")
PY
}

# Alternate the two sides, twice each; the files written are removed after each run.
lines=()
for _ in 1 2; do
  lines+=("$(measure curl curl -fsS -o "$work/curl.out" "$base/CDN/bench/el7/cds-1.0.0-bench.tar.gz")")
  rm -f "$work/curl.out"
  lines+=("$(measure crat "$bin" "$base/" CDN/bench/el7 cds "$work/dl")")
  rm -rf "$work/dl"
done

python3 - "$size" "$tsv" "${lines[@]}" <<'PY'
import sys
size, tsv = int(sys.argv[1]), sys.argv[2] == "1"
mib = size / 2**20
runs = [l.split() for l in sys.argv[3:]]
best = {}
for name, wall, rss in runs:
    if name not in best or float(wall) < float(best[name][0]):
        best[name] = (wall, rss)
out = sys.stderr if tsv else sys.stdout
print(f"package: {mib:.0f} MiB, from nginx on 127.0.0.1 (best of 2 runs each)", file=out)
print(f"{'tool':<6} {'seconds':>8} {'MiB/s':>8} {'peak RSS MiB':>13}   (all runs, seconds)", file=out)
for name in ("curl", "crat"):
    wall, rss = best[name]
    every = " ".join(w for n, w, _ in runs if n == name)
    print(f"{name:<6} {float(wall):>8.2f} {mib/float(wall):>8.1f} {int(rss)/1024:>13.1f}   ({every})", file=out)
curl_rate = mib / float(best["curl"][0])
crat_rate = mib / float(best["crat"][0])
crat_rss = int(best["crat"][1]) / 1024
ratio = crat_rate / curl_rate
print(f"crat/curl throughput ratio: {ratio:.2f} (crat also hashes and verifies gzip+tar)", file=out)
if tsv:
    met = "yes" if ratio >= 0.6 and crat_rss <= 32 else "no"
    amount = f"{mib / 1024:.0f} GiB" if round(mib) % 1024 == 0 else f"{mib:.0f} MiB"
    print(f"download {amount} from nginx\t{curl_rate:.0f} MiB/s (curl)\t"
          f"{crat_rate:.0f} MiB/s, {crat_rss:.1f} MiB RSS\t{ratio:.2f}×\t≥ 0.6×, RSS ≤ 32 MiB\t{met}")
PY
