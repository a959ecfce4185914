#!/usr/bin/env bash
# The demo: a private mosquitto on a free loopback port; a simulated CBM field (300 wells, meters
# for six consumer sectors, flares; rollovers, resets, pump stops, an outage whose history arrives
# late, some junk) replaying its last 24 hours at about 3,000 times real pace; cbm-ingest
# ingesting; then a summary of what it reported, checked against the simulator's own truth. Then
# (at a terminal, or with DEMO_KEEP=1) the daemon runs on with its status page until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CBM_INGEST_BIN:-$PWD/.build/debug/cbm-ingest}
work=$(mktemp -d -t cbm-demo-XXXXXX)
out=${DEMO_OUT:-$PWD/demo-out}
seconds=${DEMO_SECONDS:-25}
# FORMAT=sparkplug_b: the wells' telemetry comes from Sparkplug B edge nodes (one per block).
format=${FORMAT:-json}
rm -rf "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
# The status page on the usual port when it is free, else on any free one.
http_port=9108
(exec 3<>/dev/tcp/127.0.0.1/$http_port) 2>/dev/null && http_port=0
keep=${DEMO_KEEP:-$([ -t 0 ] && [ -t 1 ] && echo 1 || echo 0)}

broker_pid=""; daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$port" > "$work/mosquitto.conf"
"$mosquitto_bin" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker_pid=$!

sed -e "s#url: mqtt://127.0.0.1:1883#url: mqtt://127.0.0.1:$port#" \
    -e "s#client_id: cbm-ingest-jinzhong#client_id: cbm-ingest-demo#" \
    -e "s#^assets: assets.csv#assets: $work/field/assets.csv#" \
    -e "s#directory: /var/lib/cbm-ingest/out#directory: $out#" \
    -e "s#directory: /var/lib/cbm-ingest/journal#directory: $work/journal#" \
    -e "s#listen: 127.0.0.1:9108#listen: \"127.0.0.1:$http_port\"#" \
    config/cbm-ingest.yaml > "$work/cbm-ingest.yaml"
if [ "$format" = sparkplug_b ]; then
  # The wells' edge nodes: config/sparkplug-subscription.yaml, first under subscriptions:.
  python3 - "$work/cbm-ingest.yaml" config/sparkplug-subscription.yaml <<'PY'
import sys
path, sub = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
open(path, "w").write(text.replace("subscriptions:\n", "subscriptions:\n" + sub, 1))
PY
fi

echo "== a simulated field: the last 24 hours of 300 wells, delivery meters and flares"
"$bin" simulate --config config/cbm-ingest.yaml --wells 300 --hours 24 --seed 42 --format "$format" --out "$work/field" | sed 's/^/   /'
echo "== cbm-ingest, configured as config/cbm-ingest.yaml says:"
"$bin" check-config --config "$work/cbm-ingest.yaml" | tail -n +2 | sed 's/^/   /'

for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
"$bin" run --config "$work/cbm-ingest.yaml" 2> "$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do grep -q "subscribed" "$work/daemon.log" && break; sleep 0.1; done
echo "== publishing the 24 hours to mosquitto on 127.0.0.1:$port in about $seconds s (QoS 1) ..."
hex=(); [ "$format" = sparkplug_b ] && hex=(--hex)
"$bin" replay --config "$work/cbm-ingest.yaml" --publish "${hex[@]}" --speed "$((86400 / seconds))" "$work/field/recording.txt" 2>/dev/null | sed 's/^/   /'
sleep 2
kill -TERM "$daemon_pid"
status=0; wait "$daemon_pid" || status=$?
daemon_pid=""
echo "== cbm-ingest stopped (exit $status): $(grep -o 'messages=[0-9]* readings=[0-9]* rejects=[0-9]* totals=[0-9]*' "$work/daemon.log" | tail -1)"

echo
echo "== the morning report: cbm-ingest report --config cbm-ingest.yaml (the last closed gas day; the field's data begins 24 hours ago)"
"$bin" report --config "$work/cbm-ingest.yaml" | sed 's/^/   /'
python3 - "$out" "$work/field/truth.jsonl" <<'PY'
import json, os, sys, glob
out, truth_path = sys.argv[1], sys.argv[2]
def records(family):
    rows = []
    for f in sorted(glob.glob(os.path.join(out, family, "*.jsonl"))):
        rows += [json.loads(l) for l in open(f)]
    return rows
final = {}
for r in records("totals"):
    k = (r["window"], r["start"], r["scope"], r["id"])
    if k not in final or final[k]["revision"] < r["revision"]:
        final[k] = r
hours = sorted({k[1] for k in final if k[0] == "hour"})
def total(scope, field, ident=None):
    return sum(r.get(field) or 0 for k, r in final.items()
               if k[0] == "hour" and k[2] == scope and (ident is None or k[3] == ident))
print(f"\n== all {len(hours)} closed hours, {hours[0][:16]} to {hours[-1][:16]}, against the simulator's truth (m3 at 20 C, 101.325 kPa)")
produced = total("all", "gas_m3"); utilised = total("all", "utilised_m3"); flared = total("all", "flared_m3")
print(f"   cbm-ingest: produced {produced:,.0f} m3, utilised {utilised:,.0f} m3, flared {flared:,.0f} m3")
truth = {}
for l in open(truth_path):
    t = json.loads(l)
    if t["window"] == "hour" and t["scope"] == "all" and t["start"] in hours:
        for f in ("gas_m3", "utilised_m3", "flared_m3"):
            if f in t: truth[f] = truth.get(f, 0) + t[f]
diff = max(abs(truth.get(f, 0) - v) / max(1, truth.get(f, 0)) for f, v in (("gas_m3", produced), ("utilised_m3", utilised), ("flared_m3", flared)))
print(f"   the simulator's own truth for the same hours: produced {truth.get('gas_m3', 0):,.0f} m3, utilised {truth.get('utilised_m3', 0):,.0f} m3"
      f" -> {'equal' if diff < 1e-9 else 'DIFFERENT'} (largest relative difference {diff:.1e})")
alerts = records("alerts")
raised = {}
for a in alerts:
    if a["state"] == "active": raised[a["rule"]] = raised.get(a["rule"], 0) + 1
print(f"   alarms raised: " + (", ".join(f"{r} {n}" for r, n in sorted(raised.items())) or "none"))
for a in [a for a in alerts if a["state"] == "active"][:4]:
    print(f"      {a['time'][:16]} {a['severity']:8} {a['message']}")
rejects = records("rejects")
codes = {}
for r in rejects: codes[r["code"]] = codes.get(r["code"], 0) + 1
print(f"   rejected (kept with their reason in rejects/): " + (", ".join(f"{c} {n}" for c, n in sorted(codes.items())) or "none"))
events = records("events")
kinds = {}
for e in events: kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
print(f"   events: " + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"))
print(f"\n== the files, under {out}")
for family in ("totals", "alerts", "events", "rejects"):
    files = sorted(glob.glob(os.path.join(out, family, "*")))
    if files:
        print(f"   {family}/: {len(files)} file(s), e.g. {os.path.basename(files[-1])}")
print("   latest.json: the running totals of the open windows, for dashboards")
if diff >= 1e-9:
    sys.exit("the demo's figures differ from the simulator's truth")
PY

if [ "$keep" = 1 ]; then
  "$bin" run --config "$work/cbm-ingest.yaml" 2> "$work/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do grep -q "http.address=" "$work/daemon.log" && break; sleep 0.1; done
  address=$(grep -o 'http.address=[^ ]*' "$work/daemon.log" | head -1 | cut -d= -f2)
  echo
  echo "== cbm-ingest runs on (its log: $work/daemon.log). The status page: http://$address/"
  echo "   (中文: http://$address/?lang=zh)   metrics: http://$address/metrics   health: http://$address/healthz"
  echo "   Ctrl-C stops it."
  trap 'echo; echo "== stopping"; kill -TERM "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; daemon_pid=""; exit 0' INT TERM
  wait "$daemon_pid" || true
  daemon_pid=""
fi
