#!/usr/bin/env bash
# The demo: a private mosquitto on a free loopback port, the bundled field sample published to it
# (its times moved to the last hours), cbm-ingest ingesting for a few seconds, and what it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CBM_INGEST_BIN:-.build/debug/cbm-ingest}
work=$(mktemp -d -t cbm-demo-XXXXXX)
out=${DEMO_OUT:-$PWD/demo-out}
rm -rf "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

broker_pid=""; daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" > "$work/mosquitto.conf"
"$mosquitto_bin" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker_pid=$!

cp config/assets.csv "$work/assets.csv"
sed -e "s#url: mqtt://127.0.0.1:1883#url: mqtt://127.0.0.1:$port#" \
    -e "s#client_id: cbm-ingest-jinzhong#client_id: cbm-ingest-demo#" \
    -e "s#directory: /var/lib/cbm-ingest/out#directory: $out#" \
    -e "s#directory: /var/lib/cbm-ingest/journal#directory: $work/journal#" \
    -e "s#readings: false #readings: true  #" \
    config/cbm-ingest.yaml > "$work/cbm-ingest.yaml"

echo "== configuration"
"$bin" check-config --config "$work/cbm-ingest.yaml" | sed 's/^/   /'

for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
"$bin" run --config "$work/cbm-ingest.yaml" 2> "$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do grep -q "subscribed" "$work/daemon.log" && break; sleep 0.1; done

# Move the sample's times so that its last message is at most an hour old (whole hours, so the
# gas-day and hour boundaries stay where they were).
now=$(date +%s)
last=$(tail -n 1 samples/field-sample.txt | cut -d' ' -f1)
shift=$(( (now - last) / 3600 * 3600 ))
count=0
while read -r t topic payload; do
  payload=$(printf '%s' "$payload" | awk -v d="$shift" '{
    if (match($0, /"ts": *[0-9]+/)) { s = substr($0, RSTART, RLENGTH); sub(/[0-9]+$/, "", s); v = substr($0, RSTART + length(s), RLENGTH - length(s)); $0 = substr($0, 1, RSTART - 1) s sprintf("%.0f", v + d) substr($0, RSTART + RLENGTH) }
    if (match($0, /"time": *[0-9]+/)) { s = substr($0, RSTART, RLENGTH); sub(/[0-9]+$/, "", s); v = substr($0, RSTART + length(s), RLENGTH - length(s)); $0 = substr($0, 1, RSTART - 1) s sprintf("%.0f", v + d * 1000) substr($0, RSTART + RLENGTH) }
    print }')
  mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t "$topic" -m "$payload"
  count=$((count + 1))
done < samples/field-sample.txt
echo "== published $count messages of samples/field-sample.txt to mosquitto on 127.0.0.1:$port"

sleep "${DEMO_SECONDS:-3}"
kill -TERM "$daemon_pid"
status=0; wait "$daemon_pid" || status=$?
daemon_pid=""
echo "== cbm-ingest stopped (exit $status); its log:"
sed 's/^/   /' "$work/daemon.log" | tail -n 8

echo "== what it wrote under $out"
for f in $(find "$out" -type f | sort); do
  echo "   $f: $(wc -l < "$f") records"
done
if command -v python3 >/dev/null 2>&1 && [ -d "$out/totals" ]; then
  echo "== totals (highest revision of each window; m3 at 20 C)"
  python3 - "$out/totals" <<'PY'
import json, os, sys
d = sys.argv[1]
final = {}
for name in sorted(os.listdir(d)):
    for line in open(os.path.join(d, name)):
        r = json.loads(line)
        k = (r["window"], r["start"], r["scope"], r["id"])
        if k not in final or final[k]["revision"] < r["revision"]:
            final[k] = r
def fmt(v):
    return "-" if v is None else f"{v:,.1f}"
for (window, start, scope, ident), r in sorted(final.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    if scope == "all" and window == "hour":
        rate = r.get("utilisation_rate")
        print(f"   hour {start}  produced {fmt(r.get('gas_m3')):>10}  utilised {fmt(r.get('utilised_m3')):>10}"
              f"  flared {fmt(r.get('flared_m3')):>8}  utilisation {'-' if rate is None else f'{rate:.1%}'}"
              f"  coal {r.get('coal_t', 0):.2f} t  CO2e {r.get('co2e_t', 0):.1f} t  (revision {r['revision']})")
for (window, start, scope, ident), r in sorted(final.items()):
    if window == "hour" and scope in ("field", "sector") and r.get("gas_m3", r.get("utilised_m3", 0)):
        v = r.get("gas_m3", r.get("utilised_m3"))
        print(f"   hour {start}  {scope:6} {ident:16} {fmt(v):>10} m3  coverage {r['coverage']:.0%}")
PY
fi
echo "== first readings"
find "$out/readings" -type f -exec head -n 6 {} \; | sed 's/^/   /'
echo "== rejects (bad input is kept, with its reason)"
find "$out/rejects" -type f -exec cat {} \; | sed 's/^/   /'
