"""What the Python baselines of the benches share: the paho-mqtt client loop and the count file.

A baseline (python_realtime.py, python_historian.py) gives its callbacks and a function that says
how many messages it has handled; `run` connects, subscribes through `on_connect`, and until
SIGTERM or Ctrl-C rewrites the count file every second (and calls `every_second`, if given);
at exit it disconnects and writes the count one last time. The count file is replaced
atomically, so the bench never reads half a number.
"""
import os
import signal
import threading

import paho.mqtt.client as mqtt


def write_count(count_file, count):
    """Replaces `count_file` (if any) with `count`."""
    if count_file:
        with open(count_file + ".tmp", "w") as f:
            f.write(f"{count}\n")
        os.replace(count_file + ".tmp", count_file)


def run(args, host, port, on_connect, on_message, count, every_second=None):
    """Runs the client until SIGTERM or SIGINT; `args` has client_id, persistent and count_file."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id, clean_session=not args.persistent)
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()

    while not stop.is_set():
        write_count(args.count_file, count())
        if every_second:
            every_second(client)
        stop.wait(1)

    client.disconnect()
    client.loop_stop()
    write_count(args.count_file, count())
