"""The course's way to write the historian: paho-mqtt callbacks and the InfluxDB 1.x client.

Subscribes to every sensor reading at QoS 1 and, for each message, decodes it with json.loads
and writes it at once with one `write_points([point])`: one HTTP write per message, as a
student would. The point has the shape of Garonne's `reading` measurement (tags kind, sensor,
source; one float field per quantity, lat, lon, and seq), so the same InfluxQL counts both.
It is the baseline that `bench/historian.sh` measures `garonne historian` against: keep it
plain, do not optimise it.

paho acknowledges a QoS 1 message when on_message returns, so a message is acknowledged once
InfluxDB took it (or once the write failed: then it is lost, as in the course's code, which does
not catch the error; it is counted here so the bench can say so).

Usage: python3 python_historian.py MQTT_HOST MQTT_PORT INFLUX_HOST INFLUX_PORT DATABASE
           [--count-file FILE] [--client-id ID] [--persistent]
The count file holds the number of points written so far; it is rewritten every second and at
exit (SIGTERM or Ctrl-C).
"""
import argparse
import json

from influxdb import InfluxDBClient

import consumer

READINGS = "garonne/v1/sensors/+/reading"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("mqtt_host")
parser.add_argument("mqtt_port", type=int)
parser.add_argument("influx_host")
parser.add_argument("influx_port", type=int)
parser.add_argument("database")
parser.add_argument("--count-file")
parser.add_argument("--client-id", default="python-historian")
parser.add_argument("--persistent", action="store_true", help="keep the MQTT session (clean_session=False)")
args = parser.parse_args()

influx = InfluxDBClient(host=args.influx_host, port=args.influx_port, database=args.database)
influx.create_database(args.database)

written = 0
failed = 0


def on_connect(client, userdata, flags, reason_code, properties):
    print(f"connected: {reason_code}")
    client.subscribe(READINGS, qos=1)


def on_message(client, userdata, msg):
    global written, failed
    reading = json.loads(msg.payload)
    fields = dict(reading["quantities"])
    fields["lat"] = float(reading["location"]["lat"])
    fields["lon"] = float(reading["location"]["lon"])
    fields["seq"] = int(reading["seq"])
    point = {
        "measurement": "reading",
        "tags": {"kind": reading["kind"], "sensor": reading["sensor_id"], "source": reading["source"]},
        "time": reading["time"],
        "fields": fields,
    }
    try:
        influx.write_points([point])
        written += 1
    except Exception as error:  # the course does not catch it; paho would log it and go on
        failed += 1
        print(f"write failed: {error}")


consumer.run(args, args.mqtt_host, args.mqtt_port, on_connect, on_message, lambda: written)
print(f"{written} points written, {failed} writes failed")
