# The replay anchor a field engineer would write: one `mosquitto_sub -F '%U %t %p'` line at a
# time, json.loads, and a dict of hourly gas per well (totalizer deltas, or rate × time).
import json, sys
from collections import defaultdict

hourly = defaultdict(float)
last = {}
messages = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        received, topic, payload = line.split(b" ", 2)
        m = json.loads(payload)
        well = topic.split(b"/")[3]
        t = float(m["ts"])
        hour = int(t // 3600)
        total = m.get("gas_total")
        if total is not None:
            prev = last.get(well)
            if prev is not None and total >= prev[1]:
                hourly[(well, hour)] += total - prev[1]
            last[well] = (t, total)
        messages += 1
print(messages, len(hourly), round(sum(hourly.values()), 3))
