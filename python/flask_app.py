"""The contract as a Flask application: one route per scenario."""

from flask import Flask, Response

from scenarios import ROUTES

app = Flask(__name__)


def _view(handler):
    def view():
        status, body = handler()
        return Response(body, status=status, content_type="application/json")

    return view


for path, handler in ROUTES.items():
    app.add_url_rule(path, handler.__name__, _view(handler))
