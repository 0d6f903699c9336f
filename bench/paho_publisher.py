"""The course's way to publish a sensor fleet: a plain paho-mqtt loop.

Publishes readings of the same shape as Garonne's (same topics, same JSON fields, one message
per sensor in turn) as fast as it can for DURATION seconds, then prints how many it published.
Usage: python3 paho_publisher.py PORT SENSORS DURATION QOS
"""
import json
import sys
import time
from datetime import datetime, timezone

import paho.mqtt.client as mqtt

port, sensors, duration, qos = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-bench")
client.max_queued_messages_set(0)
client.max_inflight_messages_set(1000)
client.connect("127.0.0.1", port)
client.loop_start()

ids = [f"virtual-{i // 500 + 1}-{i % 500:03d}" for i in range(sensors)]
seq = [0] * sensors
published = 0
refused = 0
end = time.monotonic() + duration
last = None
while time.monotonic() < end:
    for i, sensor in enumerate(ids):
        reading = {
            "v": 1,
            "sensor_id": sensor,
            "kind": "virtual",
            "source": "virtual",
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "seq": seq[i],
            "location": {"lon": 1.4442, "lat": 43.6047},
            "quantities": {"temperature": 11.2, "relativeHumidity": 0.81, "atmosphericPressure": 1012.3},
        }
        seq[i] += 1
        info = client.publish(f"garonne/v1/sensors/{sensor}/reading", json.dumps(reading), qos=qos)
        # paho refuses a QoS 1 message when its queue is full (ERR_QUEUE_SIZE): that message is
        # lost, as in the course's code, which does not check. The broker's count is the truth.
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            last = info
        else:
            refused += 1
        published += 1
        if published % 1000 == 0 and time.monotonic() >= end:
            break
if last is not None:
    last.wait_for_publish(timeout=30)
client.loop_stop()
client.disconnect()
print(f"{published} published, {refused} refused by paho (queue full)")
