#!/usr/bin/env python3
"""What waking a sleeping load generator costs the server, with the CPUs'
idle states as they are and held polling (framewut run's cpu_idle).

A writer pinned to one CPU (the server's) writes a hello response to a
loopback socket after spinning GAP µs, and times each write on its own
thread's CPU clock. The reader, a process pinned to another CPU (the
generator's), either blocks in recv, so that it sleeps between writes and
every write wakes it, or never sleeps (non-blocking recv in a loop). The
difference per write is what a wake-up costs the writer; it grows with how
long the reader's CPU was idle where an idle CPU halts, and should stay
near zero while a CPU latency request of 0 µs (/dev/cpu_dma_latency, root)
keeps idle CPUs polling.

Prints one row per gap: µs per write with a sleeping reader, with a
spinning one, and their difference, for both idle settings side by side.

Usage: python3 bench/wake.py [--writes N] [--cpus SERVER,GENERATOR]
"""

import argparse
import contextlib
import os
import socket
import struct
import sys
import time
from multiprocessing import Process

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 22\r\n\r\n" + b'{"message":"helowrld"}'
GAPS_US = [5, 10, 20, 40, 80]


def reader(port, cpu, spin):
    os.sched_setaffinity(0, {cpu})
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setblocking(not spin)
        while True:
            try:
                if not s.recv(65536):
                    return
            except BlockingIOError:
                continue


def per_write_us(cpus, gap_us, writes, spin):
    """The writer's mean thread CPU per write, in µs, after a tenth warms up."""
    os.sched_setaffinity(0, {cpus[0]})
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        child = Process(target=reader, args=(listener.getsockname()[1], cpus[1], spin))
        child.start()
        conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    gap_ns = gap_us * 1000
    total = 0
    warm = writes // 10
    for i in range(writes + warm):
        until = time.perf_counter_ns() + gap_ns
        while time.perf_counter_ns() < until:
            pass
        start = time.thread_time_ns()
        conn.sendall(RESPONSE)
        spent = time.thread_time_ns() - start
        if i >= warm:
            total += spent
    conn.close()
    child.join()
    return total / writes / 1000


@contextlib.contextmanager
def idle_held(shallow):
    """Holds idle CPUs polling while the block runs, when `shallow`."""
    if not shallow:
        yield True
        return
    try:
        fd = os.open("/dev/cpu_dma_latency", os.O_RDWR)
    except OSError as err:
        print(f"cannot hold idle CPUs polling: {err} (run as root)", file=sys.stderr)
        yield False
        return
    try:
        os.write(fd, struct.pack("i", 0))
        yield True
    finally:
        os.close(fd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20000)
    parser.add_argument("--cpus", default="0,1", help="the writer's CPU and the reader's")
    args = parser.parse_args()
    cpus = [int(c) for c in args.cpus.split(",")]
    if len(cpus) != 2 or cpus[0] == cpus[1]:
        sys.exit("--cpus takes two different CPUs: the writer's and the reader's, e.g. 0,1")
    print(f"µs of the writer's CPU per {len(RESPONSE)}-byte write; reader asleep - reader spinning = wake-up")
    print(f"{'gap':>6}  {'idle as-is: asleep':>18} {'spinning':>9} {'wake-up':>8}   {'held polling: asleep':>20} {'spinning':>9} {'wake-up':>8}")
    for gap in GAPS_US:
        row = [f"{gap:>4}µs"]
        for shallow in (False, True):
            with idle_held(shallow) as held:
                if not held:
                    row.append(f"{'-':>20} {'-':>9} {'-':>8}")
                    continue
                asleep = per_write_us(cpus, gap, args.writes, spin=False)
                awake = per_write_us(cpus, gap, args.writes, spin=True)
                width = 18 if not shallow else 20
                row.append(f"{asleep:>{width}.2f} {awake:>9.2f} {asleep - awake:>8.2f}")
        print("  ".join(row))


if __name__ == "__main__":
    main()
