#!/usr/bin/env python3
"""A publisher's site running the published GAR integration django-gar (PyPI), unchanged: its
GARMiddleware logs users in over CAS (python-cas), its LogoutView takes the back-channel
logoutRequest. Only its settings name the gateway: GAR_BASE_URL is the gateway's CAS base URL.

  GET  /?sso_id=gar             django-gar: to the CAS login, then validates the ticket and logs
                                in the user of the institution whose UAI the answer carries
  GET  /                        this site's page, as JSON: who is logged in, and what django-gar
                                kept in the session (gar_uai, gar_profile, gar_ido)
  POST /gar/logout/             django-gar's LogoutView (the gateway's back channel)
  GET  /state                   the GAR sessions django-gar knows: ticket, and whether a logout
                                marked them

Usage: app.py --server-url http://127.0.0.1:PORT/ --uai 0561641E --db DIR
Prints "READY <port>" once listening on 127.0.0.1 (an ephemeral port).
"""

import argparse
import json
import os
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import django
from django.conf import settings


def configure(args):
    settings.configure(
        DEBUG=False,
        SECRET_KEY="django-gar-interop-test-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django_gar",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django_gar.middleware.GARMiddleware",
        ],
        AUTHENTICATION_BACKENDS=["django_gar.backends.GARBackend"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(args.db, "db.sqlite3"),
            }
        },
        SESSION_ENGINE="django.contrib.sessions.backends.db",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        # What a publisher sets to use the real GAR, pointed at the gateway instead.
        GAR_BASE_URL=args.server_url,
        GAR_ACTIVE_USER_REDIRECT="/",
        GAR_INACTIVE_USER_REDIRECT="/?refused=1",
        GAR_DISTRIBUTOR_ID="555555555_0000000000000000",
    )
    django.setup()


def home(request):
    from django.http import JsonResponse

    return JsonResponse(
        {
            "user": request.user.username if request.user.is_authenticated else None,
            "gar_uai": request.session.get("gar_uai"),
            "gar_profile": request.session.get("gar_profile"),
            "gar_ido": request.session.get("gar_ido"),
            "refused": request.GET.get("refused") == "1",
        }
    )


def state(request):
    from django.contrib.sessions.backends.db import SessionStore
    from django.http import JsonResponse
    from django_gar.models import GARSession

    sessions = []
    for s in GARSession.objects.all():
        store = SessionStore(session_key=s.session_key)
        sessions.append({"ticket": s.ticket, "gar_logout": bool(store.get("gar_logout"))})
    return JsonResponse({"sessions": sessions})


def urls():
    from django.urls import include, path

    return [
        path("", home),
        path("state", state),
        path("gar/", include("django_gar.urls")),
    ]


class Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *a):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server-url", required=True)
    p.add_argument("--uai", required=True)
    p.add_argument("--db", required=True)
    args = p.parse_args()
    configure(args)
    global urlpatterns
    urlpatterns = urls()

    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model
    from django_gar.models import GARInstitution

    user = get_user_model().objects.create(username="college-demo", is_active=True)
    # bulk_create: no signal, so no call to the real GAR's subscription service.
    GARInstitution.objects.bulk_create(
        [
            GARInstitution(
                uai=args.uai,
                institution_name="Collège",
                user=user,
                subscription_id="abo-django-gar",
            )
        ]
    )
    from django.core.wsgi import get_wsgi_application

    server = make_server(
        "127.0.0.1", 0, get_wsgi_application(), server_class=Threading, handler_class=Quiet
    )
    print("READY {}".format(server.server_address[1]), flush=True)
    server.serve_forever()


urlpatterns = []

if __name__ == "__main__":
    sys.exit(main())
