"""A Sparkplug B edge node for the tests (pysparkplug): group "field", node "rtu1", devices W01,
W02 and W03, each with a gas totalizer (alias 1), a gas rate (alias 2) and a status string (alias 3).

    sparkplug_edge_node.py PORT START_MS COUNT [gap|unknown|damage|hold FILE]

After its births it publishes COUNT data messages a device, by alias only, one a minute of
event time from START_MS (totalizer W01: 1000 + 7.5 i m3, W02: 500 + 2.25 i m3, W03: 200 + 1.25 i m3). With `gap` it
skips a seq halfway; with `unknown` it sends an alias no birth declared halfway. It answers a
Rebirth command by reconnecting (a new session: its death, then its births), and prints what
it did, a line each: "births", "rebirth asked", "reborn", "sent N", "damaged N", "done". With
`hold` it stops after its births until FILE exists. With `damage` it publishes, halfway, damaged
DDATA payloads on W01's topic that no protobuf reader can take: every prefix of a good payload
cut inside its metric, and random bytes behind an invalid wire type (a seeded generator).
"""
import os
import random
import sys
import threading
import time

from pysparkplug import (DataType, DData, Device, EdgeNode, Message, MessageType, Metric, QoS, Topic)

port, start_ms, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else ""
rebirth = threading.Event()


def say(line):
    print(line, flush=True)


def on_command(node, message):
    names = [m.name for m in message.payload.metrics]
    if "Node Control/Rebirth" in names:
        say("rebirth asked")
        rebirth.set()


DEVICES = ("W01", "W02", "W03")


def total(device, i):
    return {"W01": 1000 + 7.5 * i, "W02": 500 + 2.25 * i, "W03": 200 + 1.25 * i}[device]


def birth_metrics(device):
    return (
        Metric(timestamp=start_ms, name="Gas/Total", datatype=DataType.DOUBLE, value=total(device, 0), alias=1),
        Metric(timestamp=start_ms, name="Gas/Flow", datatype=DataType.DOUBLE, value=10.0, alias=2),
        Metric(timestamp=start_ms, name="Status", datatype=DataType.STRING, value="running", alias=3),
    )


node = EdgeNode("field", "rtu1", metrics=(), cmd_callback=on_command)
for d in DEVICES:
    node.register(Device(d, birth_metrics(d)))
node.connect("127.0.0.1", port=port, blocking=False)
time.sleep(1.0)
say("births")
if mode == "hold":
    while not os.path.exists(sys.argv[5]):
        time.sleep(0.05)

def damage(ts):
    """Publishes the damaged payloads; returns how many."""
    # (seq 0: reading node._seq would take one of the session's numbers)
    good = DData(timestamp=ts, seq=0,
                 metrics=(Metric(timestamp=ts, name=None, datatype=DataType.DOUBLE, value=1.0, alias=1),)).encode(include_dtypes=False)
    # field 1 (timestamp, a varint), then field 2 (the metric, length-delimited)
    pos = 1
    while good[pos] & 0x80:
        pos += 1
    pos += 1
    assert good[pos] == 0x12 and good[pos + 1] < 0x80, good.hex()
    length = good[pos + 1]
    payloads = [good[:k] for k in range(pos + 2, pos + 2 + length)]
    rng = random.Random(7)
    payloads += [b"\x0f" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64))) for _ in range(100)]
    for p in payloads:
        node._client._client.publish("spBv1.0/field/DDATA/rtu1/W01", p, qos=1).wait_for_publish(5)
    return len(payloads)


sent = 0
for i in range(1, count + 1):
    if rebirth.is_set():
        rebirth.clear()
        node.disconnect()
        time.sleep(0.3)
        node.connect("127.0.0.1", port=port, blocking=False)
        time.sleep(1.0)
        say("reborn")
    if mode == "gap" and i == count // 2:
        _ = node._seq  # a seq lost on the way
    ts = start_ms + i * 60_000
    for d in DEVICES:
        metrics = [Metric(timestamp=ts, name=None, datatype=DataType.DOUBLE, value=total(d, i), alias=1)]
        if mode == "unknown" and i == count // 2 and d == "W01":
            metrics.append(Metric(timestamp=ts, name=None, datatype=DataType.DOUBLE, value=1.0, alias=42))
        topic = Topic(message_type=MessageType.DDATA, group_id="field", edge_node_id="rtu1", device_id=d)
        payload = DData(timestamp=ts, seq=node._seq, metrics=tuple(metrics))
        node._client.publish(Message(topic=topic, payload=payload, qos=QoS.AT_LEAST_ONCE, retain=False), include_dtypes=False)
        sent += 1
    if mode == "damage" and i == count // 2:
        say(f"damaged {damage(ts)}")
    time.sleep(0.05)
    # Wait for an asked rebirth before going on (the daemon asks as it hands on).
    if mode in ("gap", "unknown") and i == count // 2:
        rebirth.wait(timeout=10)
say(f"sent {sent}")
time.sleep(0.5)
node.disconnect()
say("done")
