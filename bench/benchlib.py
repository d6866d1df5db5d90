"""Shared helpers for framewut's benchmark scripts: a pinned nginx target,
running a command while measuring its CPU time and peak memory, medians."""

import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = '{"message":"helowrld"}'


def need(tool, package):
    """Installs a Debian package when its tool is missing (root, as in CI)."""
    if shutil.which(tool) or os.path.exists(tool):
        return
    print(f"{tool} is missing: installing Debian's {package} package", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def framewut_release():
    """Builds the release binary (LTO, as the README says to measure with),
    honouring CARGO_TARGET_DIR; FRAMEWUT_BIN names one already built instead."""
    if os.environ.get("FRAMEWUT_BIN"):
        return os.environ["FRAMEWUT_BIN"]
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "framewut"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "release", "framewut")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Nginx:
    """nginx with one worker, pinned to `cpu`, answering BODY on every path
    of plain HTTP on one port (`url`). A subclass serves other ports by
    overriding `servers`."""

    def __init__(self, cpu):
        need("/usr/sbin/nginx", "nginx-light")
        self.dir = tempfile.mkdtemp(prefix="framewut-nginx-")
        blocks, ports = self.servers()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 1;
worker_rlimit_nofile 30000;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 20000; multi_accept on; }}
http {{
  access_log off;
  keepalive_timeout 300s;
  client_body_temp_path {self.dir};
  proxy_temp_path {self.dir};
  fastcgi_temp_path {self.dir};
  uwsgi_temp_path {self.dir};
  scgi_temp_path {self.dir};
{blocks}
}}
""")
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), "/usr/sbin/nginx", "-p", self.dir, "-c", conf],
            start_new_session=True)
        for port in ports:
            wait_port(port)

    def servers(self):
        """The http block's server blocks, and the ports to wait for."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        return f"""  server {{
    listen 127.0.0.1:{self.port} backlog=4096;
    keepalive_requests 100000000;
    location / {{ default_type application/json; return 200 '{BODY}'; }}
  }}""", [self.port]

    def worker_cpu(self):
        """CPU seconds the worker processes have used so far (from /proc)."""
        children = f"/proc/{self.proc.pid}/task/{self.proc.pid}/children"
        with open(children) as f:
            pids = f.read().split()
        ticks = 0
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def measured(cmd):
    """Runs cmd to its end; returns (stdout, cpu seconds, peak RSS in MiB).

    CPU and peak RSS come from wait4's rusage of that one child."""
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.read().strip()}")
    return out, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def wrk_rate(output):
    for line in output.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")


def median(values):
    return statistics.median(values)
