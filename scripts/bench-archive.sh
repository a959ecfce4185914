#!/usr/bin/env bash
# Late data and the history archive, with the release binary, each figure the minimum and median
# of RUNS runs (default 3), measured in the same run as its anchor:
#   1. a 3-day backfill of 1,000 wells at one reading a minute (4.32 M readings, all older than
#      the in-memory span: every one goes through the archive), against the same readings
#      replayed in time order;
#   2. peak memory with 100,000 series (25,000 wells × 4 volume values) at one reading a minute,
#      for 26 hours and 7 days of history (WIDE_HOURS, default "26 168"; 7 days are 252 M messages,
#      an hour and a half here, 15 GiB of archive) and two settings of limits.max_past (PASTS, default "7d 30d"; the 7-day run
#      with the first only): it must grow with neither (readings older than aggregation.hot_span,
#      hours and days older than the current gas day, are on disk). The recording is generated
#      into a pipe as it is replayed (no file of tens of GB), and the peak is given for each
#      quarter of the run, to show it flat (MEMORY_RUNS runs each, default 1);
#   3. the archive's bytes per reading.
# BENCH_QUICK=1 runs a tenth of the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
bin=$PWD/.build/release/cbm-ingest
work=$(mktemp -d -t cbm-archive-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
quick=${BENCH_QUICK:-0}
runs=${RUNS:-3}
wells=1000; days=3; wide=25000; wide_hours=(${WIDE_HOURS:-26 168})
if [ "$quick" = 1 ]; then wells=100; wide=2500; wide_hours=(6 12); fi
# SKIP_BACKFILL=1: the memory figures only; SKIP_MEMORY=1: the others only; PASTS: the max_past
# settings (default "7d 30d").
# Peak memory varies little from run to run: one run each unless told.
memory_runs=${MEMORY_RUNS:-1}

# gen WELLS MINUTES FILE REGISTER ORDER: one gas totalizer reading a minute per well (ORDER=inorder),
# or (ORDER=backfill) an hour of the present first, then the MINUTES before it, received after it.
gen() {
  python3 - "$@" <<'PY'
import sys, time
wells, minutes, path, register, order = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
with open(register, "w") as f:
    f.write("id,kind,field,block,sector,expected_gas_m3d\n")
    for w in range(wells):
        f.write(f"W{w:06d},well,F{w % 4},B{w % 40},,1200\n")
end = (int(time.time()) // 3600 - 2) * 3600
start = end - minutes * 60
def line(recv, w, k):
    t = start + k * 60
    return f'{recv:.6f} cbm/F{w % 4}/B{w % 40}/W{w:06d}/telemetry {{"ts":{t},"gas_total":{k * 45.5 + w}}}\n'
with open(path, "w", buffering=1 << 20) as f:
    if order == "inorder":
        for k in range(minutes + 60):
            for w in range(wells):
                f.write(line(start + k * 60 + 1, w, k))
    else:
        for k in range(minutes, minutes + 60):
            for w in range(wells):
                f.write(line(start + k * 60 + 1, w, k))
        recv = end + 3600 + 1
        for k in range(minutes):
            for w in range(wells):
                recv += 1e-5
                f.write(line(recv, w, k))
PY
}
# gen4 WELLS HOURS FILE REGISTER: four volume values a message, one message a minute per well.
gen4() {
  python3 - "$@" <<'PY'
import sys, time
wells, hours, path, register = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(register, "w") as f:
    f.write("id,kind,field,block,sector,expected_gas_m3d\n")
    for w in range(wells):
        f.write(f"W{w:06d},well,F{w % 4},B{w % 40},,1200\n")
start = (int(time.time()) // 3600 - hours - 2) * 3600
with open(path, "w", buffering=1 << 20) as f:
    for k in range(hours * 60):
        t = start + k * 60
        for w in range(wells):
            f.write(f'{t + 1}.000000 cbm/F{w % 4}/B{w % 40}/W{w:06d}/telemetry '
                    f'{{"ts":{t},"gas_m3h":{40 + (k * 7 + w) % 13}.5,"gas_total":{k * 45.5 + w},"water_m3d":{(k + w) % 5 * 0.7},"water_total":{k * 0.3 + w}}}\n')
PY
}
# config NAME REGISTER MAX_PAST
config() {
  cat > "$work/$1.yaml" <<YAML
broker: { url: "mqtt://127.0.0.1:1883", client_id: cbm-bench-$1 }
subscriptions:
  - topic: cbm/+/+/+/telemetry
    template: cbm/{field}/{block}/{asset}/telemetry
    format: json
    values:
      gas_m3h: { measurement: gas_rate, unit: m3/h }
      gas_total: { measurement: gas_total, unit: m3 }
      water_m3d: { measurement: water_rate, unit: m3/d }
      water_total: { measurement: water_total, unit: m3 }
assets: $2
limits: { max_past: ${3:-7d}, max_series: 200000 }
journal: { directory: $work/journal-$1 }
output: { directory: $work/out-$1 }
YAML
}
# sampled COMMAND...: prints the peak memory (MiB) in each quarter of its run, its peak, its seconds
sampled() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
samples = []
t0 = time.time()
while p.poll() is None:
    try:
        rss = [int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS:")][0]
        samples.append((time.time() - t0, rss / 1024))
    except (OSError, IndexError):
        pass
    time.sleep(0.5)
if p.returncode != 0: sys.exit(f"replay failed: {p.returncode}")
end = time.time() - t0
quarters = [max([m for t, m in samples if q * end / 4 <= t < (q + 1) * end / 4] or [0]) for q in range(4)]
print(" ".join(f"{q:.0f}" for q in quarters), f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}", f"{end:.0f}")
PY
}
# measure COMMAND...: prints "seconds peak-MiB"
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(f"{time.time() - t:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")
PY
}
stats() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f'min {min(v):,.0f}, median {statistics.median(v):,.0f}')" "$@"; }
busy() { echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"; }

if [ "${SKIP_BACKFILL:-0}" != 1 ]; then
minutes=$((days * 1440))
readings=$((wells * minutes))
echo "== 1. a ${days}-day backfill of $wells wells ($readings readings, one a minute) against the same readings in order"
busy
gen $wells $minutes "$work/inorder.txt" "$work/wells.csv" inorder
gen $wells $minutes "$work/backfill.txt" "$work/wells.csv" backfill
config b "$work/wells.csv"
in_rates=(); back_rates=()
for i in $(seq "$runs"); do
  rm -rf "$work/out-in"
  read -r s _ < <(measure "$bin" replay --config "$work/b.yaml" --output "$work/out-in" "$work/inorder.txt")
  in_rates+=("$(python3 -c "print($readings / $s)")")
  rm -rf "$work/out-back" "$work/archive-b"
  read -r s _ < <(measure "$bin" replay --config "$work/b.yaml" --output "$work/out-back" --archive "$work/archive-b" "$work/backfill.txt")
  back_rates+=("$(python3 -c "print($readings / $s)")")
done
echo "   in time order:  $(stats "${in_rates[@]}") readings/s"
echo "   as a backfill:  $(stats "${back_rates[@]}") readings/s (each older than the in-memory span: merged into the archive)"
python3 -c "
import statistics
a=[float(x) for x in '${in_rates[*]}'.split()]; b=[float(x) for x in '${back_rates[*]}'.split()]
print(f'   backfill / in order: median {statistics.median(b)/statistics.median(a):.0%} (target: at least 50 %)')"
# The two give the same final figures.
python3 - "$work" <<'PY'
import glob, gzip, json, sys
def final(d):
    best = {}
    for f in glob.glob(d + "/totals/*.jsonl*"):
        for l in (gzip.open if f.endswith(".gz") else open)(f, "rt"):
            r = json.loads(l); k = (r["window"], r["start"], r["scope"], r["id"])
            if k not in best or best[k]["revision"] < r["revision"]: best[k] = r
    return {k: {f: v for f, v in r.items() if f != "revision"} for k, r in best.items()}
a, b = final(sys.argv[1] + "/out-in"), final(sys.argv[1] + "/out-back")
differ = sum(1 for k in a if a[k] != b.get(k))
print(f"   final figures: {len(a):,} windows in order, {len(b):,} from the backfill, {differ} differ")
PY

echo "== 3. the archive's bytes per reading (the backfill run's archive, its log folded in)"
python3 - "$work/archive-b/history.sqlite" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def count(b):
    x = s = 0
    for byte in b:
        x |= (byte & 0x7F) << s
        if byte < 0x80: return x
        s += 7
n = sum(count(r[0]) for r in db.execute("SELECT readings FROM blocks"))
rows = db.execute("SELECT count(*) FROM blocks").fetchone()[0]
size = os.path.getsize(sys.argv[1])
print(f"   {n:,} readings in {rows:,} blocks, {size:,} bytes: {size / n:.1f} bytes a reading (the blocks alone: "
      f"{sum(len(r[0]) for r in db.execute('SELECT readings FROM blocks')) / n:.1f})")
PY

fi

if [ "${SKIP_MEMORY:-0}" = 1 ]; then exit 0; fi
echo "== 2. peak memory with $((wide * 4)) series at one reading a minute"
busy
for hours in "${wide_hours[@]}"; do
  pasts=(${PASTS:-7d 30d})
  [ "$hours" -gt 50 ] && pasts=("${pasts[0]}")
  for past in "${pasts[@]}"; do
    config w "$work/wide.csv" $past
    for i in $(seq "$memory_runs"); do
      rm -rf "$work/out-w" "$work/wide.txt" "$work/archive-w"
      mkfifo "$work/wide.txt"
      gen4 $wide "$hours" "$work/wide.txt" "$work/wide.csv" &
      sleep 1  # the register is written first
      read -r q1 q2 q3 q4 peak secs < <(sampled "$bin" replay --config "$work/w.yaml" --archive "$work/archive-w" "$work/wide.txt")
      wait
      echo "   $hours h of history ($((wide * hours * 60)) messages), max_past $past: peak $peak MiB;" \
           "by quarter of the run $q1, $q2, $q3, $q4 MiB ($secs s, archive $(du -sh "$work/archive-w" | cut -f1))"
    done
  done
done
echo "   (the in-memory span is aggregation.hot_span, 2 h; older readings are in the archive on disk)"
