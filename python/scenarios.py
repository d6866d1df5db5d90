"""The five scenarios of framewut's contract, shared by every Python app.

Each app only wires URL paths to the handlers here, so the frameworks differ
only in what they really add. Options come from the environment, read once at
import, never from the request, so every request of a load is identical:

FRAMEWUT_SLEEP_MS      /sleep waits this long (default 100)
FRAMEWUT_UPSTREAM_URL  /upstream GETs this URL
FRAMEWUT_CLIENT        how /upstream calls it: fresh (requests.get, a new
                       connection per call), session (one requests.Session
                       per process) or futures (one requests-futures
                       FuturesSession per process, waited on at once)
FRAMEWUT_CPU_N         /cpu returns the numbers 0..n-1 (default 100000)
FRAMEWUT_DB            /db reads a random World row from this SQLite file,
                       or from PostgreSQL when it is a postgres:// URL

Every handler returns (status, body): an int and JSON bytes. /sleep uses
time.sleep through the module attribute, so it is cooperative exactly when
gevent has monkey-patched the process and blocking otherwise.

A request with the header X-Framewut-Time-Calls: N (1 to 1,000,000) makes N
calls of its handler in a row, where the server's worker runs them, and
answers what they cost the worker's process instead of the handler's body:
{"calls", "cpu_ns", "status", "bytes"}, as the built-in Rust stacks do. The
lab times a cpu or db handler this way, one call a request, so that the
handler is timed in the process, heap and caches that serve the cell.
"""

import json
import os
import random
import threading
import time

import requests
from requests_futures.sessions import FuturesSession

HELLO = json.dumps({"message": "helowrld"}).encode()

SLEEP_S = int(os.environ.get("FRAMEWUT_SLEEP_MS", "100")) / 1000
UPSTREAM_URL = os.environ.get("FRAMEWUT_UPSTREAM_URL", "")
CLIENT = os.environ.get("FRAMEWUT_CLIENT", "fresh")
CPU_N = int(os.environ.get("FRAMEWUT_CPU_N", "100000"))
DB = os.environ.get("FRAMEWUT_DB", "")

WORLD_ROWS = 10000


def error(status, message):
    return status, json.dumps({"error": message}).encode()


def hello():
    return 200, HELLO


def sleep():
    time.sleep(SLEEP_S)
    return 200, HELLO


if CLIENT == "fresh":
    _get = requests.get
elif CLIENT == "session":
    _get = requests.Session().get
elif CLIENT == "futures":
    _futures = FuturesSession()

    def _get(url):
        return _futures.get(url).result()

else:
    raise ValueError(f"FRAMEWUT_CLIENT must be fresh, session or futures, not {CLIENT!r}")


def upstream():
    """The upstream's status and body, passed through as they came."""
    if not UPSTREAM_URL:
        return error(500, "FRAMEWUT_UPSTREAM_URL is not set")
    response = _get(UPSTREAM_URL)
    return response.status_code, response.content


def cpu():
    return 200, json.dumps({"message": list(range(CPU_N))}).encode()


class World:
    """One connection per process to the World table, opened on first use.

    A lock serialises the queries: SQLite connections and psycopg cursors are
    not meant for several threads at once, and one query is short.
    """

    def __init__(self, target):
        self.target = target
        self.lock = threading.Lock()
        self.connection = None

    def _connect(self):
        if self.target.startswith(("postgres://", "postgresql://")):
            import psycopg

            connection = psycopg.connect(self.target, autocommit=True)
            return connection, "SELECT id, randomNumber FROM World WHERE id = %s"
        import sqlite3

        # Read-only, so a mistyped path fails instead of creating an empty file.
        uri = f"file:{self.target}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        return connection, "SELECT id, randomNumber FROM World WHERE id = ?"

    def random_row(self):
        with self.lock:
            if self.connection is None:
                self.connection = self._connect()
            connection, query = self.connection
            return connection.execute(query, (random.randint(1, WORLD_ROWS),)).fetchone()


_world = World(DB)


def db():
    if not DB:
        return error(500, "FRAMEWUT_DB is not set")
    row = _world.random_row()
    if row is None:
        return error(500, "the World table has no such row")
    return 200, json.dumps({"id": row[0], "randomNumber": row[1]}).encode()


ROUTES = {
    "/hello": hello,
    "/sleep": sleep,
    "/upstream": upstream,
    "/cpu": cpu,
    "/db": db,
}


TIME_CALLS_HEADER = "X-Framewut-Time-Calls"
TIME_CALLS_ENVIRON = "HTTP_X_FRAMEWUT_TIME_CALLS"
MAX_TIMED_CALLS = 1_000_000


def timed(handler, calls):
    """The handler called `calls` times in a row (the header's value, None
    for a plain request), answered as the CPU time the calls cost this
    thread, user and kernel; a plain request runs the handler once and
    answers its own body. The handler runs whole on the request's thread, so
    requests timed at once in one worker's threads each count only their
    own calls. The answer names this process, one of the server's workers."""
    if calls is None:
        return handler()
    try:
        n = int(calls.strip())
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_TIMED_CALLS:
        return error(400, f"{TIME_CALLS_HEADER} must be a count of calls from 1 to {MAX_TIMED_CALLS}")
    start = time.thread_time_ns()
    for _ in range(n):
        status, body = handler()
    cpu_ns = time.thread_time_ns() - start
    return 200, json.dumps({"calls": n, "cpu_ns": cpu_ns, "status": status, "bytes": len(body), "pid": os.getpid(), "thread": True}).encode()


def respond(path, calls=None):
    """Runs the scenario behind a path, `calls` times when the request asks
    to time it (the X-Framewut-Time-Calls header's value): (status, body)."""
    handler = ROUTES.get(path)
    if handler is None:
        return error(404, f"no scenario at {path}")
    return timed(handler, calls)
