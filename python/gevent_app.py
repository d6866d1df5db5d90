"""The plain WSGI application in a process that gevent has monkey-patched.

patch_all() runs before anything else is imported, so time.sleep, sockets and
threads are gevent's: /sleep and the upstream clients yield to gevent's hub
instead of blocking. That helps only under a server that runs gevent's hub
(gunicorn's gevent worker); under any other loop a patched sleep still holds
the worker, because nothing else is scheduled while it waits.
"""

from gevent import monkey

monkey.patch_all()

from wsgi_app import app  # noqa: E402  (must come after patch_all)

__all__ = ["app"]
