#!/usr/bin/env bash
# make bench: every benchmark in one run, then one table of their rows (each row's CRAT
# figure beside its ceiling or peer, measured in the same run, as a ratio) and the machine
# line (cores, load average before and after: the machine's noise). The scripts print
# their progress as they go; each prints its row(s) as TSV lines on stdout
# (work, peer, crat, ratio, goal, met), bench/download.sh and bench/lambda.sh when
# BENCH_TSV=1. A script that prints no row (or fails) shows as "not measured".
# bench/cloud_cost.sh, when present, prints its own table after. BENCH_SKIP lists scripts
# to leave out (e.g. BENCH_SKIP="lambda download": their rows say "skipped").
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
rows=$(mktemp "$PWD/.tmp/bench-rows.XXXXXX")
trap 'rm -f "$rows"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# run WORK CMD…: CMD's output shown as it comes; its TSV rows kept, or one "not measured" row.
run() {
  local work=$1; shift
  local out rc name=${*: -1}
  name=${name##*/}
  if [[ " ${BENCH_SKIP:-} " == *" ${name%.sh} "* ]]; then
    printf '%s\t-\tnot measured (skipped: BENCH_SKIP)\t-\t-\t-\n' "$work" >>"$rows"
    return
  fi
  out=$(mktemp "$PWD/.tmp/bench-out.XXXXXX")
  echo "== $*" >&2
  "$@" | tee "$out" >&2
  rc=${PIPESTATUS[0]}
  if grep -qP '^[^\t]+(\t[^\t]*){5}$' "$out"; then
    grep -P '^[^\t]+(\t[^\t]*){5}$' "$out" >>"$rows"
  else
    local why="not measured"
    [ "$rc" = 0 ] || why="not measured (exit $rc)"
    printf '%s\t-\t%s\t-\t-\t-\n' "$work" "$why" >>"$rows"
  fi
  rm -f "$out"
}

run "HTTP rows (webhook, GET /builds, start-up)" bench/http.sh
run "download step, 1 GiB package from real nginx" env BENCH_TSV=1 bench/download.sh
run "Lambda bootstraps (release, stripped)" env BENCH_TSV=1 bench/lambda.sh

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo
python3 - "$rows" <<'PY'
import sys
header = ["work", "ceiling / peer", "CRAT", "ratio", "goal", "met"]
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
print(line(header))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in rows:
    print(line(r))
PY
echo
echo "machine: $(nproc) cores; load average (1, 5, 15 min) before $load_before, after $load_after; $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

if [ -x bench/cloud_cost.sh ]; then
  echo
  bench/cloud_cost.sh
fi
