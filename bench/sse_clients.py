#!/usr/bin/env python3
"""Holds N Server-Sent Events clients on a Garonne server's /events for S seconds, reading
everything they are sent, then prints one JSON line: clients connected, events and bytes
received. Standard library only (asyncio streams), so it runs anywhere Python 3.9+ does.

Usage: bench/sse_clients.py URL CLIENTS SECONDS   (URL like http://127.0.0.1:8080/events?kinds=...)
"""
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def client(url, stop, totals):
    parts = urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    except OSError as e:
        totals["failed"] += 1
        totals["error"] = str(e)
        return
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        totals["refused"] += 1
        writer.close()
        return
    totals["connected"] += 1
    # Events are counted by their "event:" line. The last 6 bytes of a read are kept for the
    # next one, so a line cut between two reads still counts, once.
    tail = b"\n"
    while not stop.is_set():
        try:
            chunk = await asyncio.wait_for(reader.read(65536), 0.5)
        except asyncio.TimeoutError:
            continue
        if not chunk:
            break
        totals["bytes"] += len(chunk)
        data = tail + chunk
        totals["events"] += data.count(b"\nevent:")
        tail = data[-6:]
    writer.close()


async def main(url, clients, seconds):
    totals = {"connected": 0, "refused": 0, "failed": 0, "events": 0, "bytes": 0}
    stop = asyncio.Event()
    tasks = []
    for _ in range(clients):
        tasks.append(asyncio.create_task(client(url, stop, totals)))
        await asyncio.sleep(0.001)  # no SYN flood: a thousand clients in about a second
    start = time.monotonic()
    await asyncio.sleep(seconds)
    # Print while every client is still connected: the caller reads the server's memory now.
    print(json.dumps({**totals, "seconds": round(time.monotonic() - start, 1)}), flush=True)
    sys.stdin.readline()  # the caller says when it has measured
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
