#!/usr/bin/env bash
# Replay throughput and recovery time, with the release binary on this machine:
#  1. a recording of N JSON telemetry messages (default 1,000,000; 1,000 wells, 4 values each) is
#     replayed with `cbm-ingest replay` (one core: the replay pipeline is synchronous);
#  2. the same recording is published to a private mosquitto and ingested by the daemon with no
#     checkpoint in between; the daemon is killed with SIGKILL and restarted: the time from start
#     to serving (connected and subscribed) with the whole journal tail to recover is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
swift build -c release >/dev/null
bin=$PWD/.build/release/cbm-ingest
work=$(mktemp -d -t cbm-bench-XXXXXX)
broker_pid=""; daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 - "$n" "$work/recording.txt" "$work/assets.csv" <<'PY'
import sys, time
n, path, assets = int(sys.argv[1]), sys.argv[2], sys.argv[3]
wells = 1000
with open(assets, "w") as f:
    f.write("id,kind,field,block,sector,expected_gas_m3d\n")
    for w in range(wells):
        f.write(f"W{w:04d},well,F{w % 4},B{w % 40},,1200\n")
end = int(time.time()) - 3600
start = end - n // wells * 60
with open(path, "w") as f:
    for i in range(n):
        w, k = i % wells, i // wells
        t = start + k * 60
        f.write(f"{t}.{w:06d} cbm/F{w % 4}/B{w % 40}/W{w:04d}/telemetry "
                f'{{"ts":{t},"gas_m3h":{40 + (i * 7) % 13}.5,"gas_total":{k * 45.5 + w},"water_m3d":{(i % 5) * 0.7},"casing_kpa":{700 + i % 90}}}\n')
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/cbm-ingest.yaml" <<YAML
broker: { url: "mqtt://127.0.0.1:$port", client_id: cbm-bench, receive_maximum: 100 }
subscriptions:
  - topic: cbm/+/+/+/telemetry
    template: cbm/{field}/{block}/{asset}/telemetry
    format: json
    values:
      gas_m3h: { measurement: gas_rate, unit: m3/h }
      gas_total: { measurement: gas_total, unit: m3 }
      water_m3d: { measurement: water_rate, unit: m3/d }
      casing_kpa: { measurement: casing_pressure, unit: kPa }
assets: assets.csv
aggregation: { horizon: 2d }
limits: { max_past: 60d }
journal: { directory: journal, checkpoint_interval: 1h }
output: { directory: out }
YAML
size=$(du -h "$work/recording.txt" | cut -f1)
echo "== replay of $n JSON messages ($size, 1,000 wells, 4 values each) with cbm-ingest replay"
/usr/bin/time -f "   peak memory %M KiB, %e s wall, %U s user" "$bin" replay --config "$work/cbm-ingest.yaml" --output "$work/replay-out" "$work/recording.txt" 2>&1 \
  | grep -v "^20..-..-..T" | sed 's/^/   /'

echo "== recovery after kill -9 with a journal tail of $n messages"
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$port" > "$work/mosquitto.conf"
$(command -v mosquitto || echo /usr/sbin/mosquitto) -c "$work/mosquitto.conf" >/dev/null 2>&1 &
broker_pid=$!
sleep 0.5
"$bin" run --config "$work/cbm-ingest.yaml" 2> "$work/daemon-1.log" &
daemon_pid=$!
for _ in $(seq 100); do grep -q subscribed "$work/daemon-1.log" && break; sleep 0.1; done
"$bin" replay --config "$work/cbm-ingest.yaml" --publish "$work/recording.txt" 2>/dev/null | sed 's/^/   /'
for _ in $(seq 600); do
  [ "$(python3 -c "import os,glob; print(sum(os.path.getsize(p) for p in glob.glob('$work/journal/*.cbmj')))")" -ge "$(wc -c < "$work/recording.txt")" ] && break
  sleep 0.5
done
sleep 2
kill -9 "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true
echo "   journal: $(du -sh "$work/journal" | cut -f1), killed with SIGKILL, no checkpoint"
start=$(date +%s.%N)
"$bin" run --config "$work/cbm-ingest.yaml" 2> "$work/daemon-2.log" &
daemon_pid=$!
for _ in $(seq 6000); do grep -q "subscribed" "$work/daemon-2.log" && break; sleep 0.01; done
served=$(date +%s.%N)
grep -o 'journal.replayed=[0-9]*' "$work/daemon-2.log" | sed 's/^/   /'
echo "   from start to serving (connected and subscribed): $(python3 -c "print(f'{$served - $start:.2f}')") s"
