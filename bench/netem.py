#!/usr/bin/env python3
"""A user-space stand-in for `tc qdisc … netem` (this machine's kernel has no
sch_netem): a wire between two TUN devices that forwards every IP packet in
both directions, dropping each with probability --loss and holding each for
a delay drawn uniformly from [delay − jitter, delay + jitter] (netem's
`delay D J` without a distribution table), so packets are reordered as with
netem. Each direction is impaired on its own, as netem on both ends' egress.

    netem.py --dev0 rcbench0 --dev1 rcbench1 [--loss 0.01] [--delay-ms 300]
             [--jitter-ms 300] [--stats FILE]

It creates both TUN devices, prints "ready" on stdout, and forwards until
SIGTERM or SIGINT; the caller moves one device into another network
namespace and gives both addresses. The devices vanish when it exits. With
--stats it writes what it forwarded and dropped per direction as JSON.
"""

import argparse
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev0", default="rcbench0")
    parser.add_argument("--dev1", default="rcbench1")
    parser.add_argument("--loss", type=float, default=0.01)
    parser.add_argument("--delay-ms", type=float, default=300.0)
    parser.add_argument("--jitter-ms", type=float, default=300.0)
    parser.add_argument("--stats")
    args = parser.parse_args()

    fds = [open_tun(args.dev0), open_tun(args.dev1)]
    names = [f"{args.dev0}->{args.dev1}", f"{args.dev1}->{args.dev0}"]
    stats = {
        name: {"packets": 0, "dropped": 0, "delay_ms_sum": 0.0, "delay_ms_max": 0.0}
        for name in names
    }
    low = max(0.0, args.delay_ms - args.jitter_ms) / 1000.0
    high = (args.delay_ms + args.jitter_ms) / 1000.0
    pending = []  # (due, sequence, output fd, packet)
    sequence = 0
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    while running:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, out, packet = heapq.heappop(pending)
            try:
                os.write(out, packet)
            except OSError:
                pass  # the device is down or gone: the packet is lost
        timeout = None if not pending else max(0, int((pending[0][0] - now) * 1000) + 1)
        try:
            events = poller.poll(timeout if timeout is not None else 1000)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, event in events:
            if event & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                running = False  # a device went away (its namespace was deleted)
                break
            side = fds.index(fd)
            out = fds[1 - side]
            counters = stats[names[side]]
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                counters["packets"] += 1
                if random.random() < args.loss:
                    counters["dropped"] += 1
                    continue
                delay = random.uniform(low, high)
                counters["delay_ms_sum"] += delay * 1000.0
                counters["delay_ms_max"] = max(counters["delay_ms_max"], delay * 1000.0)
                sequence += 1
                heapq.heappush(pending, (now + delay, sequence, out, packet))
    for counters in stats.values():
        passed = counters["packets"] - counters["dropped"]
        counters["delay_ms_mean"] = counters.pop("delay_ms_sum") / passed if passed else None
        counters["loss_observed"] = counters["dropped"] / counters["packets"] if counters["packets"] else None
    report = {
        "loss": args.loss,
        "delay_ms": args.delay_ms,
        "jitter_ms": args.jitter_ms,
        "distribution": "uniform",
        "directions": stats,
    }
    text = json.dumps(report, indent=2)
    if args.stats:
        with open(args.stats, "w") as out:
            out.write(text + "\n")
    print(text, file=sys.stderr)


if __name__ == "__main__":
    main()
