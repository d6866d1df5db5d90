"""The contract through Werkzeug's Request and Response objects."""

from werkzeug.wrappers import Request, Response

from scenarios import TIME_CALLS_HEADER, respond


@Request.application
def app(request):
    status, body = respond(request.path, request.headers.get(TIME_CALLS_HEADER))
    return Response(body, status=status, content_type="application/json")
