#!/usr/bin/env python3
"""framewut load --http2 against h2load (nghttp2), side by side, on the same nginx.

nginx (one worker, Debian's, with HTTP/2) is pinned to CPU 0 and each
generator to CPU 1, as in load_vs_wrk.py. nginx serves HTTP/2 on two ports:
h2c with prior knowledge, and h2 over TLS 1.3 (ALPN h2) with a certificate
signed by a throwaway CA. For each, two loads, each with the same threads,
connections, streams per connection and duration for both generators,
alternately, ROUNDS rounds each: -t1 -c16 -m16 and -t1 -c64 -m8.

For each load it prints req/s (median of rounds), the ratio framewut/h2load,
generator CPU seconds per 100k requests (from each run's rusage), and the
nginx worker's own CPU per request under each generator. Both generators
grant windows of 2^30-1 (h2load's default, framewut's too); h2load never
verifies the certificate, framewut verifies it against the CA (--cacert).
nginx takes one TLS 1.3 cipher suite, TLS_AES_128_GCM_SHA256: left to each
client's preference, h2load would get AES-128 and framewut (rustls) AES-256,
which costs nginx about a fifth more per request over TLS.

Usage: python3 bench/load_vs_h2load.py [--rounds 3] [--duration 5s]
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
    """(req/s, requests succeeded) from h2load's summary."""
    rate = re.search(r"finished in [0-9.]+s, ([0-9.]+) req/s", output)
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", output)
    if not rate or not done:
        raise RuntimeError(f"no rate in h2load's output:\n{output}")
    return float(rate.group(1)), int(done.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    args = ap.parse_args()

    need("h2load", "nghttp2-client")
    need("taskset", "util-linux")
    framewut = framewut_release()
    nginx = H2Nginx(cpu=0)
    secs = float(args.duration.rstrip("s"))
    try:
        print(f"{os.cpu_count()} cores; nginx 1 worker on CPU 0, generator on CPU 1; "
              f"{args.rounds} interleaved rounds of {args.duration} per generator")
        print(f"{'load':<24}{'h2load req/s':>14}{'framewut':>12}{'ratio':>8}"
              f"{'h2load s/100k':>15}{'fw s/100k':>12}{'nginx us/req':>16}   "
              f"rounds (h2load | framewut)")
        for name, url in (("h2c", f"http://127.0.0.1:{nginx.h2c_port}/"),
                          ("h2", f"https://127.0.0.1:{nginx.h2_port}/")):
            trust = ["--cacert", nginx.cacert] if name == "h2" else []
            for conns, streams in ((16, 16), (64, 8)):
                h2load_runs, fw_runs = [], []
                for _ in range(args.rounds):
                    before = nginx.worker_cpu()
                    out, cpu, _ = measured(["taskset", "-c", "1", "h2load", "-t1", f"-c{conns}",
                                            f"-m{streams}", f"-D{int(secs)}", url])
                    rate, done = h2load_counts(out)
                    served = (nginx.worker_cpu() - before) * 1e6 / max(done, 1)
                    h2load_runs.append((rate, cpu * 1e5 / max(done, 1), served))
                    before = nginx.worker_cpu()
                    out, cpu, _ = measured(["taskset", "-c", "1", framewut, "load", "--http2",
                                            "--streams", str(streams), "-t1", f"-c{conns}",
                                            f"-d{args.duration}", "--json", *trust, url])
                    s = json.loads(out)
                    suite = (s.get("tls") or {}).get("cipher_suite")
                    if suite not in (None, "TLS13_AES_128_GCM_SHA256"):
                        raise RuntimeError(f"framewut negotiated {suite}")
                    failed = s["errors"].get("http2", {}) or s["errors"]["tls"]
                    if failed:
                        raise RuntimeError(f"framewut counted errors: {s['errors']}")
                    served = (nginx.worker_cpu() - before) * 1e6 / max(s["requests"], 1)
                    fw_runs.append((s["requests_per_s"], cpu * 1e5 / max(s["requests"], 1),
                                    served))
                h, f = median(r[0] for r in h2load_runs), median(r[0] for r in fw_runs)
                hc, fc = median(r[1] for r in h2load_runs), median(r[1] for r in fw_runs)
                hn, fn = median(r[2] for r in h2load_runs), median(r[2] for r in fw_runs)
                rounds = " ".join(f"{r[0]/1e3:.1f}k" for r in h2load_runs) + " | " + \
                    " ".join(f"{r[0]/1e3:.1f}k" for r in fw_runs)
                label = f"{name} -t1 -c{conns} -m{streams}"
                print(f"{label:<24}{h:>14.0f}{f:>12.0f}{f/h:>8.2f}{hc:>15.3f}{fc:>12.3f}"
                      f"{f'{hn:.2f} | {fn:.2f}':>16}   {rounds}")
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()
