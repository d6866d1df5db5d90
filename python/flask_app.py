"""The contract as a Flask application: one route per scenario."""

from flask import Flask, Response, request

from scenarios import ROUTES, TIME_CALLS_HEADER, timed

app = Flask(__name__)


def _view(handler):
    def view():
        status, body = timed(handler, request.headers.get(TIME_CALLS_HEADER))
        return Response(body, status=status, content_type="application/json")

    return view


for path, handler in ROUTES.items():
    app.add_url_rule(path, handler.__name__, _view(handler))
