"""The course's way to write the realtime job: paho-mqtt callbacks and shapely polygons.

Subscribes to every sensor reading, places each reading in its neighbourhood (a loop over the
polygons with `contains`, as the course does), keeps the statistics of 15-minute tumbling windows
on the readings' time, and every 5 s publishes one retained aggregate per neighbourhood, in the
shape of Garonne's `garonne/v1/neighbourhoods/{id}/aggregate`. It is the baseline that
`bench/realtime-e2e.sh` measures `garonne realtime` against: keep it plain, do not optimise it.

Usage: python3 python_realtime.py HOST PORT GEOJSON [--id-property quartier]
           [--name-property nom_quartier] [--count-file FILE] [--client-id ID] [--persistent]
The count file holds the number of messages processed so far; it is rewritten every second
and at exit (SIGTERM or Ctrl-C).
"""
import argparse
import json
import threading
import time
from datetime import datetime, timezone

from shapely.geometry import Point, shape

import consumer

WINDOW_SECS = 15 * 60
EMIT_EVERY_SECS = 5
READINGS = "garonne/v1/sensors/+/reading"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("host")
parser.add_argument("port", type=int)
parser.add_argument("geojson")
parser.add_argument("--id-property", default="quartier")
parser.add_argument("--name-property", default="nom_quartier")
parser.add_argument("--count-file")
parser.add_argument("--client-id", default="python-realtime")
parser.add_argument("--persistent", action="store_true", help="keep the MQTT session (clean_session=False)")
args = parser.parse_args()

neighbourhoods = []  # (id, name, polygon)
with open(args.geojson, encoding="utf-8") as f:
    for feature in json.load(f)["features"]:
        props = feature["properties"]
        neighbourhoods.append((str(props[args.id_property]), props[args.name_property], shape(feature["geometry"])))
print(f"{len(neighbourhoods)} neighbourhoods loaded from {args.geojson}")

# (neighbourhood id, window start) -> {sensor id: {quantity: [sum, count, min, max]}}
windows = {}
lock = threading.Lock()  # on_message runs in paho's thread, the emitter in the main one
processed = 0
refused = 0
outside = 0


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def locate(lon, lat):
    point = Point(lon, lat)
    for nid, name, polygon in neighbourhoods:
        if polygon.contains(point):
            return nid
    return None


def on_connect(client, userdata, flags, reason_code, properties):
    print(f"connected: {reason_code}")
    client.subscribe(READINGS, qos=1)


def on_message(client, userdata, msg):
    global processed, refused, outside
    processed += 1
    try:
        reading = json.loads(msg.payload)
        sensor = reading["sensor_id"]
        lon, lat = reading["location"]["lon"], reading["location"]["lat"]
        quantities = reading["quantities"]
        t = datetime.fromisoformat(reading["time"].replace("Z", "+00:00"))
        if not (is_number(lon) and is_number(lat) and isinstance(quantities, dict)):
            raise ValueError("location or quantities are not numbers")
    except (ValueError, KeyError, TypeError, AttributeError):
        refused += 1
        return
    nid = locate(lon, lat)
    if nid is None:
        outside += 1
        return
    start = int(t.timestamp()) // WINDOW_SECS * WINDOW_SECS
    with lock:
        sensors = windows.setdefault((nid, start), {})
        stats = sensors.setdefault(sensor, {})
        for quantity, value in quantities.items():
            if not is_number(value):
                continue
            if quantity not in stats:
                stats[quantity] = [0.0, 0, value, value]
            s = stats[quantity]
            s[0] += value
            s[1] += 1
            s[2] = min(s[2], value)
            s[3] = max(s[3], value)


def iso(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def publish_aggregates(client):
    names = {nid: name for nid, name, polygon in neighbourhoods}
    with lock:
        for (nid, start), sensors in windows.items():
            quantities = {}
            for stats in sensors.values():
                for quantity, (total, count, low, high) in stats.items():
                    q = quantities.setdefault(quantity, {"means": [], "min": low, "max": high, "readings": 0})
                    q["means"].append(total / count)
                    q["min"] = min(q["min"], low)
                    q["max"] = max(q["max"], high)
                    q["readings"] += count
            aggregate = {
                "v": 1,
                "neighbourhood_id": nid,
                "name": names[nid],
                "window_start": iso(start),
                "window_end": iso(start + WINDOW_SECS),
                "emitted_at": iso(time.time()),
                "quantities": {
                    quantity: {
                        "mean": sum(q["means"]) / len(q["means"]),
                        "min": q["min"],
                        "max": q["max"],
                        "readings": q["readings"],
                        "sensors": len(q["means"]),
                    }
                    for quantity, q in quantities.items()
                },
            }
            client.publish(f"garonne/v1/neighbourhoods/{nid}/aggregate", json.dumps(aggregate), qos=1, retain=True)
        # A window that is not the newest of its neighbourhood has just been published for the last time.
        newest = {}
        for nid, start in windows:
            newest[nid] = max(newest.get(nid, start), start)
        for nid, start in list(windows):
            if start < newest[nid]:
                del windows[(nid, start)]


last_emit = time.monotonic()


def emit_when_due(client):
    global last_emit
    if time.monotonic() - last_emit >= EMIT_EVERY_SECS:
        publish_aggregates(client)
        last_emit = time.monotonic()


consumer.run(args, args.host, args.port, on_connect, on_message, lambda: processed, emit_when_due)
print(f"{processed} messages processed, {refused} refused, {outside} outside every neighbourhood")
