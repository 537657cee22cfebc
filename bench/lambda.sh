#!/usr/bin/env bash
# Lambda benchmark (make bench): the bootstrap of every function as `make build` makes it
# (cargo lambda build --profile lambda, x86_64 here) — its size, and its init time (process
# start → first request for an event on a local Runtime API, median of BENCH_RUNS starts),
# each also as a ratio to `meta` (the function with no configuration and no SDK client),
# measured in the same run.
#
# Goal (issue 12): every bootstrap ≤ 10 MiB, and init not worse than before the trim: no
# function's init over INIT_BEFORE_MAX_RATIO × meta's (1.8×: the slowest function's ratio
# with the release profile and every client built at init, README "Benchmarks").
#
# BENCH_FUNCTIONS="meta builds" measures a few (meta always comes first); LAMBDA_PROFILE
# another cargo profile (release, to compare). BENCH_TSV=1: the table goes to stderr and
# stdout gets one tab-separated summary line for make bench's table.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-15}
profile=${LAMBDA_PROFILE:-lambda}
init_before_max_ratio=${INIT_BEFORE_MAX_RATIO:-1.8}
max_mib=10
functions=${BENCH_FUNCTIONS:-$(sed -n 's/^LAMBDA_FUNCTIONS := //p' Makefile)}
functions="meta $(printf '%s\n' $functions | { grep -vx meta || true; } | tr '\n' ' ')"

# The table's file descriptor: a dup, never a reopen of /dev/stderr (which truncates a log
# file that stderr is redirected to).
table_fd=1
[ "${BENCH_TSV:-}" = 1 ] && table_fd=2

# Into target/lambda-bench/, not target/lambda/ (the template's CodeUris, arm64 by default):
# a raw `sam deploy` must never pick these x86-64 binaries up.
out=target/lambda-bench
echo "building bootstraps (cargo lambda build --profile $profile --x86-64) into $out…" >&2
PATH="$PWD/.venv/bin:$PATH" cargo lambda build --profile "$profile" --x86-64 --lambda-dir "$out" \
  $(for f in $functions; do printf -- '--bin %s ' "$f"; done) >/dev/null

env_args=(CRAT_STORE=dynamodb DYNAMODB_TABLE=bench JWT_SECRET=0123456789abcdef0123456789abcdef ADMIN_PASSWD=bench
  AWS_ENDPOINT_URL=http://127.0.0.1:9)
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for f in $functions; do
  bin=$out/$f/bootstrap
  printf '%s %s %s\n' "$f" "$(stat -c %s "$bin")" "$(python3 bench/lambda_init.py "$bin" "$runs" "${env_args[@]}")" >>"$rows"
done

python3 - "$rows" "$max_mib" "$init_before_max_ratio" "${BENCH_TSV:-}" 3>&1 >&"$table_fd" <<'EOF'
import os, sys
rows = [line.split() for line in open(sys.argv[1])]
max_mib, before_ratio, tsv = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
rows = [(name, int(size) / 2**20, float(ms)) for name, size, ms in rows]
_, meta_mib, meta_ms = rows[0]
print(f"{'function':<15} {'size MiB':>10} {'× meta':>8} {'init ms':>10} {'× meta':>8}")
for name, mib, ms in rows:
    print(f"{name:<15} {mib:>10.1f} {mib / meta_mib:>8.2f} {ms:>10.1f} {ms / meta_ms:>8.2f}")
others = rows[1:] or rows
sizes = [mib for _, mib, _ in others]
inits = [ms for _, _, ms in others]
met = max(sizes + [meta_mib]) <= max_mib and max(inits) / meta_ms <= before_ratio
print(f"every bootstrap ≤ {max_mib:g} MiB and init ≤ {before_ratio:g}× meta (before the trim): "
      f"{'yes' if met else 'no'}")
if tsv:
    with os.fdopen(3, "w") as line:
        line.write("\t".join([
            "Lambda bootstrap (release, stripped)",
            f"meta {meta_mib:.1f} MiB",
            f"{min(sizes):.1f}–{max(sizes):.1f} MiB, init {min(inits):.1f}–{max(inits):.1f} ms",
            f"{max(sizes) / meta_mib:.1f}×",
            f"≤ {max_mib:g} MiB each, init not worse",
            "yes" if met else "no",
        ]) + "\n")
EOF
