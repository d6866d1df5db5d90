"""framewut's example application: a small shop, written as a Flask app is.

framewut runs it as ``shop:app`` under several Python servers (gunicorn's sync,
gthread and gevent workers, meinheld, granian, hypercorn) to show how each
copes with what a real application does, one kind of work per route:

GET /                    renders a Jinja template that extends a base layout:
                         CPU spent in Python, which no worker model hides.
GET /api/products?limit  serialises the first N products (default 50, 1..200)
                         with ``jsonify``: JSON encoding, again CPU.
GET /quote               makes a blocking outbound HTTP call to
                         FRAMEWUT_UPSTREAM_URL through one ``requests.Session``
                         per process: time spent waiting, where gevent and
                         threads let one worker serve other requests.
GET /product/<id>        reads one row of the World table from the SQLite file
                         FRAMEWUT_DB: a short blocking database read on one
                         read-only connection per process, shared by its
                         threads under a lock.

Both variables are read once, at import.
"""

import os
import sqlite3
import threading

import requests
from flask import Flask, jsonify, render_template, request

UPSTREAM_URL = os.environ.get("FRAMEWUT_UPSTREAM_URL", "")
DB_PATH = os.environ.get("FRAMEWUT_DB", "")

KINDS = ("Widget", "Gadget", "Sprocket", "Gizmo", "Doohickey")
CATALOGUE_SIZE = 200
FEATURED = 20
MAX_LIMIT = 200
UPSTREAM_TIMEOUT_S = 10

app = Flask(__name__)
upstream = requests.Session()

_db = None
_db_lock = threading.Lock()


def kind_of(product_id):
    return KINDS[(product_id - 1) % len(KINDS)]


def product_name(product_id):
    return f"{kind_of(product_id)} {product_id}"


def make_product(product_id):
    tags = [kind_of(product_id).lower()]
    if product_id % 7 == 0:
        tags.append("sale")
    if product_id % 11 == 0:
        tags.append("new")
    return {
        "id": product_id,
        "name": product_name(product_id),
        "price": round(1 + (product_id * 7919) % 10000 / 100, 2),
        "tags": tags,
    }


PRODUCTS = [make_product(i) for i in range(1, CATALOGUE_SIZE + 1)]


def error(status, message):
    return jsonify(error=message), status


def stock_of(product_id):
    """The product's randomNumber in World, or None when it has no row."""
    global _db
    with _db_lock:
        if _db is None:
            _db = sqlite3.connect(
                f"file:{DB_PATH}?mode=ro", uri=True, check_same_thread=False
            )
        row = _db.execute(
            "SELECT randomNumber FROM World WHERE id = ?", (product_id,)
        ).fetchone()
    return None if row is None else row[0]


@app.get("/")
def index():
    return render_template(
        "index.html", products=PRODUCTS[:FEATURED], total=len(PRODUCTS)
    )


@app.get("/api/products")
def api_products():
    limit = request.args.get("limit", 50, type=int)
    limit = max(1, min(limit, MAX_LIMIT))
    return jsonify(PRODUCTS[:limit])


@app.get("/quote")
def quote():
    if not UPSTREAM_URL:
        return error(500, "FRAMEWUT_UPSTREAM_URL is not set")
    try:
        response = upstream.get(UPSTREAM_URL, timeout=UPSTREAM_TIMEOUT_S)
    except requests.RequestException as exc:
        return error(502, f"upstream unreachable: {exc.__class__.__name__}")
    try:
        body = response.json()
    except requests.JSONDecodeError:
        body = response.text
    status = 200 if response.status_code == 200 else 502
    return jsonify(upstream_status=response.status_code, quote=body), status


@app.get("/product/<int:product_id>")
def product(product_id):
    if not DB_PATH:
        return error(500, "FRAMEWUT_DB is not set")
    stock = stock_of(product_id)
    if stock is None:
        return error(404, f"no product {product_id}")
    return jsonify(id=product_id, stock=stock, name=product_name(product_id))
