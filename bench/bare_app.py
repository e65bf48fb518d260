"""The baseline of bench/resolve.py: a bare Django project with one view answering 307.

`gunicorn bench.bare_app:application`. No apps, no middleware, no database: what Django
itself costs per request, against which the resolver is measured.
"""

from __future__ import annotations

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)


def redirect(request: HttpRequest, token: str, rest: str) -> HttpResponse:
    response = HttpResponse(status=307)
    response["Location"] = "https://bucket.s3.amazonaws.com/" + rest
    return response


# r/<path>, sha256/<hex>, dvc/files/md5/<2>/<30>: one route for all.
urlpatterns = [path("s/<str:token>/<path:rest>", redirect)]

application = get_wsgi_application()
