#!/usr/bin/env python3
"""framewut load --http2 against h2load (nghttp2), side by side, on the same nginx.

nginx (one worker, Debian's, with HTTP/2) is pinned to CPU 0 and each
generator to CPU 1, as in load_vs_wrk.py. nginx serves HTTP/2 on two ports:
h2c with prior knowledge, and h2 over TLS 1.3 (ALPN h2) with a certificate
signed by a throwaway CA. For each, two loads, each with the same threads,
connections, streams per connection and duration for both generators,
alternately, ROUNDS rounds each: -t1 -c16 -m16 and -t1 -c64 -m8.

framewut runs twice in each round: as it comes, and with --coalesce (20us
unless told otherwise), which lets answers gather before it reads them.
For each load and generator it prints req/s (median of rounds), its ratio
to h2load's, generator CPU seconds per 100k requests (from each run's
rusage), the nginx worker's own CPU per request under it, and the mean
request latency each generator measured. Both generators
grant windows of 2^30-1 (h2load's default, framewut's too); h2load never
verifies the certificate, framewut verifies it against the CA (--cacert).
nginx takes one TLS 1.3 cipher suite, TLS_AES_128_GCM_SHA256: left to each
client's preference, h2load would get AES-128 and framewut (rustls) AES-256,
which costs nginx about a fifth more per request over TLS.

Usage: python3 bench/load_vs_h2load.py [--rounds 3] [--duration 5s] [--coalesce 20us]
"""

import argparse
import json
import os
import re

from benchlib import BODY, Nginx, framewut_release, free_port, measured, median, need
from load_vs_wrk_tls import make_certificates


class H2Nginx(Nginx):
    """nginx with one worker pinned to `cpu`, answering BODY over HTTP/2 on
    two ports: h2c with prior knowledge, and h2 over TLS."""

    def servers(self):
        need("openssl", "openssl")
        self.cacert = make_certificates(self.dir)
        self.h2c_port, self.h2_port = free_port(), free_port()
        common = f"""
    keepalive_requests 100000000;
    http2_max_concurrent_streams 256;
    location / {{ default_type application/json; return 200 '{BODY}'; }}"""
        return f"""  server {{
    listen 127.0.0.1:{self.h2c_port} http2 backlog=4096;{common}
  }}
  server {{
    listen 127.0.0.1:{self.h2_port} ssl http2 backlog=4096;
    ssl_certificate {self.dir}/server.pem;
    ssl_certificate_key {self.dir}/server.key;
    ssl_protocols TLSv1.3;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;{common}
  }}""", [self.h2c_port, self.h2_port]


def h2load_counts(output):
    """(req/s, requests succeeded, mean request time in µs) from h2load's summary."""
    rate = re.search(r"finished in [0-9.]+m?s, ([0-9.]+) req/s", output)
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", output)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([0-9.]+)(us|ms|s)\b", output)
    if not rate or not done or not mean:
        raise RuntimeError(f"no rate or request time in h2load's output:\n{output}")
    scale = {"us": 1, "ms": 1e3, "s": 1e6}[mean.group(2)]
    return float(rate.group(1)), int(done.group(1)), float(mean.group(1)) * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--coalesce", default="20us",
                    help="the nap of framewut's coalesced row (its --coalesce)")
    args = ap.parse_args()

    need("h2load", "nghttp2-client")
    need("taskset", "util-linux")
    framewut = framewut_release()
    nginx = H2Nginx(cpu=0)
    secs = float(args.duration.rstrip("s"))
    clients = ("h2load", "framewut", f"framewut --coalesce {args.coalesce}")
    try:
        print(f"{os.cpu_count()} cores; nginx 1 worker on CPU 0, generator on CPU 1; "
              f"{args.rounds} interleaved rounds of {args.duration} per generator")
        print(f"{'load':<20}{'generator':<30}{'req/s':>9}{'ratio':>7}{'CPU s/100k':>12}"
              f"{'nginx us/req':>14}{'mean ms':>9}   rounds")
        for name, url in (("h2c", f"http://127.0.0.1:{nginx.h2c_port}/"),
                          ("h2", f"https://127.0.0.1:{nginx.h2_port}/")):
            trust = ["--cacert", nginx.cacert] if name == "h2" else []
            for conns, streams in ((16, 16), (64, 8)):
                runs = {c: [] for c in clients}
                for _ in range(args.rounds):
                    for client in clients:
                        before = nginx.worker_cpu()
                        if client == "h2load":
                            out, cpu, _ = measured(["taskset", "-c", "1", "h2load", "-t1",
                                                    f"-c{conns}", f"-m{streams}",
                                                    f"-D{int(secs)}", url])
                            rate, done, latency = h2load_counts(out)
                        else:
                            out, cpu, _ = measured(["taskset", "-c", "1", framewut, "load",
                                                    "--http2", "--streams", str(streams), "-t1",
                                                    f"-c{conns}", f"-d{args.duration}", "--json",
                                                    *trust, *client.split()[1:], url])
                            s = json.loads(out)
                            suite = (s.get("tls") or {}).get("cipher_suite")
                            if suite not in (None, "TLS13_AES_128_GCM_SHA256"):
                                raise RuntimeError(f"framewut negotiated {suite}")
                            failed = s["errors"].get("http2", {}) or s["errors"]["tls"]
                            if failed:
                                raise RuntimeError(f"framewut counted errors: {s['errors']}")
                            rate, done = s["requests_per_s"], s["requests"]
                            latency = s["latency"]["mean_us"]
                        served = (nginx.worker_cpu() - before) * 1e6 / max(done, 1)
                        runs[client].append((rate, cpu * 1e5 / max(done, 1), served, latency))
                base = median(r[0] for r in runs["h2load"])
                label = f"{name} -t1 -c{conns} -m{streams}"
                for client in clients:
                    rs = runs[client]
                    rate = median(r[0] for r in rs)
                    rounds = " ".join(f"{r[0]/1e3:.1f}k" for r in rs)
                    print(f"{label:<20}{client:<30}{rate:>9.0f}{rate/base:>7.2f}"
                          f"{median(r[1] for r in rs):>12.3f}{median(r[2] for r in rs):>14.2f}"
                          f"{median(r[3] for r in rs) / 1e3:>9.2f}"
                          f"   {rounds}")
                    label = ""
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()
