#!/usr/bin/env bash
# Lambda benchmark (make bench): the release bootstrap of every function (cargo lambda
# build --release, x86_64 here) — its size, and its init time (process start → first
# request for an event on a local Runtime API, median of BENCH_RUNS starts), each also as
# a ratio to `meta` (the function with no configuration and no SDK client), measured in
# the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-15}
functions=$(sed -n 's/^LAMBDA_FUNCTIONS := //p' Makefile)

# Into target/lambda-bench/, not target/lambda/ (the template's CodeUris, arm64 by default):
# a raw `sam deploy` must never pick these x86-64 binaries up.
out=target/lambda-bench
echo "building release bootstraps (cargo lambda build --release --x86-64) into $out…"
PATH="$PWD/.venv/bin:$PATH" cargo lambda build --release --x86-64 --lambda-dir "$out" $(for f in $functions; do printf -- '--bin %s ' "$f"; done) >/dev/null

env_args=(CRAT_STORE=dynamodb DYNAMODB_TABLE=bench JWT_SECRET=0123456789abcdef0123456789abcdef ADMIN_PASSWD=bench
  AWS_ENDPOINT_URL=http://127.0.0.1:9)
base_size=$(stat -c %s "$out/meta/bootstrap")
base_ms=$(python3 bench/lambda_init.py "$out/meta/bootstrap" "$runs" "${env_args[@]}")
printf '%-15s %10s %8s %10s %8s\n' function "size MiB" "× meta" "init ms" "× meta"
for f in $functions; do
  bin=$out/$f/bootstrap
  size=$(stat -c %s "$bin")
  ms=$(python3 bench/lambda_init.py "$bin" "$runs" "${env_args[@]}")
  python3 -c "import sys; s,b,m,bm=map(float,sys.argv[2:]); print(f'{sys.argv[1]:<15} {s/2**20:>10.1f} {s/b:>8.2f} {m:>10.1f} {m/bm:>8.2f}')" "$f" "$size" "$base_size" "$ms" "$base_ms"
done
