"""The contract through Werkzeug's Request and Response objects."""

from werkzeug.wrappers import Request, Response

from scenarios import respond


@Request.application
def app(request):
    status, body = respond(request.path)
    return Response(body, status=status, content_type="application/json")
