#!/usr/bin/env bash
# The cloud's cost per operation (make bench; README "What it costs in the cloud"): the
# DynamoDB calls and capacity units of each API operation and task step, measured by
# bench/dynamo_meter.py between CRAT's SDK and moto, and the Step Functions state
# transitions of a run, counted in a real execution history (bench/cloud_cost.py).
# Counts do not depend on the build profile: a debug `crat` will do.
# Needs `make test-deps` (moto in .venv). BENCH_COST_JSON=FILE also writes the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
"$venv/bin/python" -c 'import moto' 2>/dev/null || { echo "cloud_cost: moto is not installed in $venv: run make test-deps" >&2; exit 1; }
echo "building crat (debug)…"
cargo build -q -p local --bin crat
args=(target/debug/crat)
[ -n "${BENCH_COST_JSON:-}" ] && args+=(--json "$BENCH_COST_JSON")
exec "$venv/bin/python" bench/cloud_cost.py "${args[@]}"
