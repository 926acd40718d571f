#!/usr/bin/env python3
"""Hostile clients for the scoring service's load benchmark (benches/hostile_load.sh).

Runs, until killed or for --seconds, three kinds of client against HOST:PORT, each from its
own loopback source addresses (127.0.0.2 and up), so they meet the per-address connection
limit the way clients on other hosts would:
  slowloris  connections that send a request header one byte every second, forever
  never-read connections that pipeline requests and never read an answer
  abandon    clients that post a large batch of names and hang up before the answer
Prints, at the end, how many connections and requests each kind made.
Standard library only.
"""
import argparse
import json
import socket
import threading
import time

stop = threading.Event()
counts = {"slowloris": 0, "never-read": 0, "abandon": 0}
lock = threading.Lock()


def count(kind):
    with lock:
        counts[kind] += 1


def connect(host, port, source):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect((host, port))
    return s


def slowloris(host, port, source):
    header = b"POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    while not stop.is_set():
        try:
            s = connect(host, port, source)
            count("slowloris")
            for byte in header:
                if stop.is_set():
                    break
                s.send(bytes([byte]))
                time.sleep(1.0)
        except OSError:
            time.sleep(0.2)


def never_read(host, port, source):
    request = b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n"
    while not stop.is_set():
        try:
            s = connect(host, port, source)
            s.settimeout(None)  # block as long as the server lets it: that is the attack
            count("never-read")
            while not stop.is_set():
                s.send(request * 64)
        except OSError:
            time.sleep(0.2)


def abandon(host, port, source, names):
    body = json.dumps({"domains": names}).encode()
    head = (
        "POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    while not stop.is_set():
        try:
            s = connect(host, port, source)
            s.sendall(head + body)
            count("abandon")
            time.sleep(0.05)
            s.close()
        except OSError:
            time.sleep(0.2)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--slowloris", type=int, default=200, help="connections")
    p.add_argument("--never-read", type=int, default=16, help="connections")
    p.add_argument("--abandon", type=int, default=4, help="clients")
    p.add_argument("--batch", type=int, default=10000, help="names per abandoned request")
    a = p.parse_args()
    names = [f"q{i}xkwhjvbnrtplm{i % 97}.biz" for i in range(a.batch)]
    threads = []
    # Each kind spreads over its own source addresses, 50 connections per address.
    plan = [("slowloris", a.slowloris, 2), ("never-read", a.never_read, 20), ("abandon", a.abandon, 30)]
    for kind, n, first in plan:
        for i in range(n):
            source = f"127.0.0.{first + i // 50}"
            if kind == "slowloris":
                t = threading.Thread(target=slowloris, args=(a.host, a.port, source))
            elif kind == "never-read":
                t = threading.Thread(target=never_read, args=(a.host, a.port, source))
            else:
                t = threading.Thread(target=abandon, args=(a.host, a.port, source, names))
            t.daemon = True
            t.start()
            threads.append(t)
    time.sleep(a.seconds)
    stop.set()
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
