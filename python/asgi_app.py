"""The contract as a raw ASGI application, for uvicorn and granian.

The waiting scenarios use the event loop: /sleep awaits asyncio.sleep and
/upstream awaits httpx's async client. The environment options are those of
scenarios.py, with these differences:

FRAMEWUT_SLEEP   cooperative (default: asyncio.sleep) or blocking
                 (time.sleep, holding the event loop for the whole wait)
FRAMEWUT_CLIENT  fresh (a new httpx.AsyncClient, so a new connection, per
                 call) or session (one httpx.AsyncClient per process)

/hello, /cpu and /db run scenarios.py's handlers directly on the loop; the
SQLite query is short enough that handing it to a thread would cost more.
"""

import asyncio
import os
import time

import httpx

import scenarios

SLEEP = os.environ.get("FRAMEWUT_SLEEP", "cooperative")
if SLEEP not in ("cooperative", "blocking"):
    raise ValueError(f"FRAMEWUT_SLEEP must be cooperative or blocking, not {SLEEP!r}")

CLIENT = os.environ.get("FRAMEWUT_CLIENT", "fresh")
if CLIENT not in ("fresh", "session"):
    raise ValueError(f"FRAMEWUT_CLIENT must be fresh or session for ASGI, not {CLIENT!r}")

# Made on first use, inside the worker's running event loop.
_session = None


async def sleep():
    if SLEEP == "blocking":
        time.sleep(scenarios.SLEEP_S)
    else:
        await asyncio.sleep(scenarios.SLEEP_S)
    return 200, scenarios.HELLO


async def upstream():
    global _session
    if not scenarios.UPSTREAM_URL:
        return scenarios.error(500, "FRAMEWUT_UPSTREAM_URL is not set")
    if CLIENT == "fresh":
        async with httpx.AsyncClient() as client:
            response = await client.get(scenarios.UPSTREAM_URL)
    else:
        if _session is None:
            _session = httpx.AsyncClient()
        response = await _session.get(scenarios.UPSTREAM_URL)
    return response.status_code, response.content


ASYNC_ROUTES = {"/sleep": sleep, "/upstream": upstream}

_TIME_CALLS = scenarios.TIME_CALLS_HEADER.lower().encode()


def _time_calls(scope):
    """The X-Framewut-Time-Calls header's value, or None."""
    for name, value in scope["headers"]:
        if name == _TIME_CALLS:
            return value.decode("latin-1")
    return None


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _session is not None:
                await _session.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    path = scope["path"]
    handler = ASYNC_ROUTES.get(path)
    if handler is not None:
        status, body = await handler()
    else:
        status, body = scenarios.respond(path, _time_calls(scope))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
