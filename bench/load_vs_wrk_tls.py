#!/usr/bin/env python3
"""framewut load against wrk over HTTPS, side by side, on the same nginx.

nginx (one worker, Debian's, with its OpenSSL) serves TLS 1.3 with an ECDSA
P-256 certificate signed by a throwaway CA that this script makes with
`openssl req`, and is pinned to CPU 0; each generator runs on CPU 1. Two
loads, each with the same threads, connections and duration for both
generators, alternately, ROUNDS rounds each:

- keep-alive: one handshake per connection, then requests over it;
- a connection per request: nginx closes after every response
  (keepalive_requests 1) and resumes no session (tickets and session cache
  off), so every request pays a full TCP and TLS handshake;
- keep-alive again with framewut's `--busy-poll 50us`: on loopback a
  generator that sleeps between answers is woken at nginx's expense, and
  polling spares nginx that work at the generator's.

For each load it prints req/s (median of rounds), the ratio framewut/wrk,
generator CPU seconds per 100k requests (from each run's rusage), and the
nginx worker's own CPU per request under each generator.
wrk never verifies the server's certificate; framewut verifies it against
the CA (--cacert) unless --insecure is given here, when it skips that as
wrk does.

Usage: python3 bench/load_vs_wrk_tls.py [--rounds 3] [--duration 5s] [--connections 64] [--insecure]
"""

import argparse
import json
import os
import subprocess

from benchlib import BODY, Nginx, framewut_release, free_port, measured, median, need, wrk_rate


def make_certificates(directory):
    """A CA and a certificate for 127.0.0.1 and localhost signed by it."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=framewut bench CA")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(directory, "ca.pem")


class TlsNginx(Nginx):
    """nginx with one worker pinned to `cpu`, answering BODY over TLS on two
    ports: one keeps connections alive, the other closes after every response
    and resumes no session."""

    def servers(self):
        need("openssl", "openssl")
        self.cacert = make_certificates(self.dir)
        self.keepalive_port, self.close_port = free_port(), free_port()
        tls = f"""
    ssl_certificate {self.dir}/server.pem;
    ssl_certificate_key {self.dir}/server.key;
    ssl_protocols TLSv1.3;
    location / {{ default_type application/json; return 200 '{BODY}'; }}"""
        return f"""  server {{
    listen 127.0.0.1:{self.keepalive_port} ssl backlog=4096;
    keepalive_requests 100000000;{tls}
  }}
  server {{
    listen 127.0.0.1:{self.close_port} ssl backlog=4096;
    keepalive_requests 1;
    ssl_session_tickets off;
    ssl_session_cache off;{tls}
  }}""", [self.keepalive_port, self.close_port]

    def url(self, port):
        return f"https://127.0.0.1:{port}/"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--insecure", action="store_true",
                    help="framewut skips certificate verification, as wrk always does")
    args = ap.parse_args()

    need("wrk", "wrk")
    need("taskset", "util-linux")
    framewut = framewut_release()
    nginx = TlsNginx(cpu=0)
    trust = ["--insecure"] if args.insecure else ["--cacert", nginx.cacert]
    secs = float(args.duration.rstrip("s"))
    conns = args.connections
    try:
        print(f"{os.cpu_count()} cores; nginx 1 worker on CPU 0 (TLS 1.3, ECDSA P-256), generator "
              f"on CPU 1; {args.rounds} interleaved rounds of {args.duration} per generator; "
              f"framewut {'skips verification' if args.insecure else 'verifies (--cacert)'}")
        print(f"{'load':<36}{'wrk req/s':>12}{'framewut':>12}{'ratio':>8}"
              f"{'wrk s/100k':>12}{'fw s/100k':>12}{'nginx us/req':>16}   rounds (wrk | framewut)")
        for name, port, extra in (("keep-alive", nginx.keepalive_port, []),
                                  ("a connection per request", nginx.close_port, []),
                                  ("keep-alive, --busy-poll 50us", nginx.keepalive_port,
                                   ["--busy-poll", "50us"])):
            url = nginx.url(port)
            wrk_runs, fw_runs, tls = [], [], None
            for _ in range(args.rounds):
                before = nginx.worker_cpu()
                out, cpu, _ = measured(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}",
                                        f"-d{args.duration}", url])
                rate = wrk_rate(out)
                served = (nginx.worker_cpu() - before) * 1e6 / (rate * secs)
                wrk_runs.append((rate, cpu * 1e5 / (rate * secs), served))
                before = nginx.worker_cpu()
                out, cpu, _ = measured(["taskset", "-c", "1", framewut, "load", "-t1",
                                        f"-c{conns}", f"-d{args.duration}", "--json", *trust,
                                        *extra, url])
                s = json.loads(out)
                if s["errors"]["tls"]:
                    raise RuntimeError(f"framewut counted TLS errors: {s['errors']['tls_reasons']}")
                served = (nginx.worker_cpu() - before) * 1e6 / max(s["requests"], 1)
                fw_runs.append((s["requests_per_s"], cpu * 1e5 / max(s["requests"], 1), served))
                tls = s["tls"]
            w, f = median(r[0] for r in wrk_runs), median(r[0] for r in fw_runs)
            wc, fc = median(r[1] for r in wrk_runs), median(r[1] for r in fw_runs)
            wn, fn = median(r[2] for r in wrk_runs), median(r[2] for r in fw_runs)
            rounds = " ".join(f"{r[0]/1e3:.1f}k" for r in wrk_runs) + " | " + \
                " ".join(f"{r[0]/1e3:.1f}k" for r in fw_runs)
            print(f"{f'{name} -t1 -c{conns}':<36}{w:>12.0f}{f:>12.0f}{f/w:>8.2f}{wc:>12.3f}"
                  f"{fc:>12.3f}{f'{wn:.2f} | {fn:.2f}':>16}   {rounds}")
            p50 = next(p["us"] for p in tls["handshake_latency"]["percentiles"]
                       if p["percentile"] == 50.0)
            print(f"{'':<36}framewut's last round: {tls['handshakes']} handshakes "
                  f"({tls['resumptions']} resumed), handshake p50 {p50} us, "
                  f"{tls['protocol']} {tls['cipher_suite']}")
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()
