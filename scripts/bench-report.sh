#!/usr/bin/env bash
# A year of 1,000 wells through the report: the year is generated (a reading of each well's
# totalizer every hour, 8.76 M messages), replayed once into files and the index of final
# figures, then a month's report is timed (minimum and median of RUNS, default 5), with the
# index already caught up (as the daemon keeps it) and rebuilt from the files (reindex).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CBM_INGEST_BIN:-}" ]; then swift build -c release >/dev/null 2>&1; fi
bin=${CBM_INGEST_BIN:-$PWD/.build/release/cbm-ingest}
work=$(mktemp -d -t cbm-bench-report-XXXXXX)
trap 'rm -rf "$work"' EXIT
wells=${WELLS:-1000}; days=${DAYS:-365}; runs=${RUNS:-5}
python3 - "$wells" "$days" "$work/year.txt" "$work/wells.csv" <<'PY'
import sys, time
wells, days, path, register = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(register, "w") as f:
    f.write("id,kind,field,block,sector,expected_gas_m3d\n")
    for w in range(wells):
        f.write(f"W{w:06d},well,F{w % 4},B{w % 40},,1200\n")
start = (int(time.time()) // 3600 - 1) * 3600 - days * 86400  # ends at the last whole hour
with open(path, "w", buffering=1 << 20) as f:
    for h in range(days * 24 + 1):
        t = start + h * 3600
        for w in range(wells):
            f.write(f"{t}.{w:06d} cbm/F{w % 4}/B{w % 40}/W{w:06d}/telemetry {{\"ts\":{t},\"gas_total\":{h * (45 + w % 10)}}}\n")
PY
month=$(python3 -c "import time; print(time.strftime('%Y-%m', time.gmtime((int(time.time()) // 86400 - $days // 2) * 86400)))")
cat > "$work/year.yaml" <<YAML
broker: { url: "mqtt://127.0.0.1:1883", client_id: cbm-bench-report }
subscriptions:
  - topic: cbm/+/+/+/telemetry
    template: cbm/{field}/{block}/{asset}/telemetry
    format: json
    time: ts
    values:
      gas_total: { measurement: gas_total, unit: m3 }
assets: $work/wells.csv
limits: { max_past: 400d, max_series: 200000 }
journal: { directory: $work/journal }
output: { directory: $work/out }
YAML
messages=$(wc -l < "$work/year.txt")
echo "== a year of $wells wells: $messages messages, replayed once"
t0=$(date +%s.%N)
"$bin" replay --config "$work/year.yaml" "$work/year.txt" > /dev/null
t1=$(date +%s.%N)
echo "   replay into files and the index: $(python3 -c "print(f'{$t1 - $t0:.1f}')") s; $(du -sh "$work/out/totals" | cut -f1) of totals files, index $(du -h "$work/out/index.sqlite" | cut -f1)"
time_it() {  # time_it LABEL COMMAND...: minimum and median of $runs runs
  local label=$1 times=()
  shift
  for _ in $(seq "$runs"); do
    local a b; a=$(date +%s.%N); "$@" > "$work/last.txt"; b=$(date +%s.%N)
    times+=("$(python3 -c "print($b - $a)")")
  done
  echo "   $label: min $(python3 -c "import sys; v=sorted(map(float, sys.argv[1:])); print(f'{v[0]:.3f} s, median {v[len(v)//2]:.3f} s')" "${times[@]}") ($runs runs; $(wc -l < "$work/last.txt") lines)"
}
time_it "report --month $month (every scope)" "$bin" report --config "$work/year.yaml" --month "$month"
time_it "report --month $month --scope field" "$bin" report --config "$work/year.yaml" --month "$month" --scope field
time_it "report --gas-day (one day of the month, every scope, CSV)" "$bin" report --config "$work/year.yaml" --gas-day "$month-15" --format csv
time_it "the morning report" "$bin" report --config "$work/year.yaml"
runs=1 time_it "reindex (the whole year from the files)" "$bin" reindex --config "$work/year.yaml"
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
