#!/usr/bin/env python3
"""The telemetry page's load: one car of CHANNELS channels at 100 Hz (ten SenML packs a second,
each of ten instants, through mosquitto_pub -l), followed by VIEWERS Server-Sent Events clients
of /api/telemetry/stream at RATE (each its own CHOSEN channels, a 10 s window on 1000 px), for
SECONDS; first a 1-viewer baseline, then VIEWERS, in the same run. Prints one JSON line per
phase: the server's CPU (% of one core) and resident memory (from /proc/PID), the events and
bytes the viewers received, and the publish-to-screen latency p50/p99: the time an event
reaches a client minus its `at` (the newest sample of the pack that made it, the time the
publisher was due to send the pack; same machine, same clock). Standard library only.

Usage: bench/telemetry_viewers.py BASE_URL MQTT_PORT SERVER_PID PREFIX CHANNELS VIEWERS SECONDS [RATE]
(RATE: raw, 50, 10 or 1; default 10)
"""
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

DEVICE = "bench-car"
CHOSEN = 10
TICK = os.sysconf("SC_CLK_TCK")


def channel(i):
    return f"benchCh{i:03d}"


def publisher(port, prefix, channels, stop):
    """Ten packs a second until `stop`, on a regular clock: each pack's last instant is the time it
    is due, so packs never overlap and the latency counts any lateness of the publisher too."""
    topic = f"{prefix}/v1/sensors/{DEVICE}/senml"
    pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-l"],
                           stdin=subprocess.PIPE, text=True)
    seq = 0
    next_at = time.time()
    while not stop.is_set():
        delay = next_at - time.time()
        if delay > 0:
            time.sleep(delay)
        records = [{"bn": f"{DEVICE}:", "bt": round(next_at - 0.09, 6), "n": "lat", "u": "lat", "v": 43.6},
                   {"n": "lon", "u": "lon", "v": 1.44}, {"n": "seq", "v": seq},
                   {"n": "source", "vs": "device"}, {"n": "kind", "vs": "race-car"}]
        for i in range(10):
            t = round(i * 0.01, 3)
            for c in range(channels):
                records.append({"n": channel(c), "v": (seq + i + c) % 100, "t": t})
        pub.stdin.write(json.dumps(records, separators=(",", ":")) + "\n")
        pub.stdin.flush()
        seq += 10
        next_at += 0.1
    pub.stdin.close()
    pub.wait()


async def viewer(base, index, channels, rate, stop, stats):
    chosen = ",".join(channel((index * 7 + k) % channels) for k in range(CHOSEN))
    path = f"/api/telemetry/stream?sensor={DEVICE}&channels={chosen}&rate={rate}&window=10&width=1000"
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        stats["refused"] += 1
        return
    stats["connected"] += 1
    while not stop.is_set():
        try:
            line = await asyncio.wait_for(reader.readline(), 0.5)
        except asyncio.TimeoutError:
            continue
        if not line:
            break
        stats["bytes"] += len(line)
        # Chunked transfer: data lines start with "data: " whatever the chunk sizes.
        if line.startswith(b"data: {\"at\":"):
            received = time.time() * 1000
            at = float(line[len(b"data: {\"at\":"):].split(b",", 1)[0])
            stats["events"] += 1
            if stats["measuring"]:
                stats["latency"].append(received - at)
    writer.close()


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p))], 1)


async def phase(base, pid, viewers, channels, rate, seconds):
    stop = asyncio.Event()
    stats = {"connected": 0, "refused": 0, "events": 0, "bytes": 0, "latency": [], "measuring": False}
    tasks = [asyncio.create_task(viewer(base, i, channels, rate, stop, stats)) for i in range(viewers)]
    await asyncio.sleep(2)  # connected, streams warm
    stats["measuring"] = True
    ticks, start = cpu_ticks(pid), time.monotonic()
    events0 = stats["events"]
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - start
    cpu = (cpu_ticks(pid) - ticks) / TICK / elapsed * 100
    rss = rss_kib(pid)
    stats["measuring"] = False
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"viewers": viewers, "rate": rate, "connected": stats["connected"], "refused": stats["refused"],
            "server_cpu_percent": round(cpu, 1), "server_rss_mib": round(rss / 1024, 1),
            "events_per_s": round((stats["events"] - events0) / elapsed, 1),
            "latency_ms_p50": percentile(stats["latency"], 0.5),
            "latency_ms_p99": percentile(stats["latency"], 0.99)}


async def main(base, port, pid, prefix, channels, viewers, seconds, rate):
    stop = threading.Event()
    thread = threading.Thread(target=publisher, args=(port, prefix, channels, stop), daemon=True)
    thread.start()
    await asyncio.sleep(3)  # the car known to the server, its rate measured
    idle_ticks, t0 = cpu_ticks(pid), time.monotonic()
    await asyncio.sleep(seconds)
    idle = {"viewers": 0, "server_cpu_percent": round((cpu_ticks(pid) - idle_ticks) / TICK / (time.monotonic() - t0) * 100, 1),
            "server_rss_mib": round(rss_kib(pid) / 1024, 1)}
    print(json.dumps(idle), flush=True)
    for n in (1, viewers):
        print(json.dumps(await phase(base, pid, n, channels, rate, seconds)), flush=True)
    stop.set()
    thread.join()


if __name__ == "__main__":
    if len(sys.argv) not in (8, 9):
        sys.exit(__doc__)
    a = sys.argv
    asyncio.run(main(a[1], int(a[2]), int(a[3]), a[4], int(a[5]), int(a[6]), float(a[7]), a[8] if len(a) == 9 else "10"))
