"""The contract as a plain WSGI application, with no framework at all.

Serve with any WSGI server, for example `gunicorn wsgi_app:app`.
"""

from http import HTTPStatus

from scenarios import TIME_CALLS_ENVIRON, respond


def app(environ, start_response):
    status, body = respond(environ.get("PATH_INFO", ""), environ.get(TIME_CALLS_ENVIRON))
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
