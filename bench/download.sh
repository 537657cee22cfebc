#!/usr/bin/env bash
# Download benchmark (make bench): the download step (list, stream to disk with sha256,
# verify gzip+tar) against curl fetching the same file from the same server, in the same
# run, on a package of BENCH_MIB MiB (default 1024). Reports wall time, throughput, peak
# RSS, and CRAT's time as a ratio of curl's. Release build. Needs ~2.5x BENCH_MIB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${BENCH_MIB:-1024}
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "building (release)…"
cargo build --release -q -p download --example fetch_package
bin=target/release/examples/fetch_package

echo "making a ${mib} MiB package (random data, tar + gzip -1)…"
pkg_dir="$work/root/CDN/bench/el7"
mkdir -p "$pkg_dir" "$work/payload"
head -c "$((mib * 1024 * 1024))" /dev/urandom > "$work/payload/blob"
tar -C "$work/payload" -cf - blob | gzip -1 > "$pkg_dir/cds-1.0.0-bench.tar.gz"
rm -f "$work/payload/blob"
size=$(stat -c %s "$pkg_dir/cds-1.0.0-bench.tar.gz")

python3 devpeers/package_server.py --root "$work/root" --host 127.0.0.1 --port 0 > "$work/server.out" &
server_pid=$!
for _ in $(seq 1 100); do grep -q "package server on" "$work/server.out" 2>/dev/null && break; sleep 0.1; done
base=$(head -1 "$work/server.out" | awk '{print $NF}')

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

curl_line=$(measure curl curl -fsS -o "$work/curl.out" "$base/CDN/bench/el7/cds-1.0.0-bench.tar.gz")
rm -f "$work/curl.out"
crat_line=$(measure crat "$bin" "$base/" CDN/bench/el7 cds "$work/dl")

python3 - "$size" "$curl_line" "$crat_line" <<'PY'
import sys
size = int(sys.argv[1]); mib = size / 2**20
rows = [l.split() for l in sys.argv[2:]]
print(f"package: {mib:.0f} MiB")
print(f"{'tool':<6} {'seconds':>8} {'MiB/s':>8} {'peak RSS MiB':>13}")
for name, wall, rss in rows:
    print(f"{name:<6} {float(wall):>8.2f} {mib/float(wall):>8.1f} {int(rss)/1024:>13.1f}")
c, k = float(rows[0][1]), float(rows[1][1])
print(f"crat/curl time ratio: {k/c:.2f} (crat also hashes and verifies gzip+tar)")
PY
