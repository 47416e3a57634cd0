#!/usr/bin/env python3
"""A publisher's subscription management with the published GAR integration django-gar (PyPI),
unchanged, against the gateway's subscription web service over mutual TLS: its settings name the
gateway (GAR_BASE_SUBSCRIPTION_URL, GAR_ALLOCATIONS_URL) and the publisher's client certificate,
and nothing else changes. It runs what a publisher's back office does with django-gar's model:

  create    GARInstitution saved: django-gar reads the schools list for the idENT, then PUTs the
            subscription (no categorieAffectation, a naive local debutValidite)
  read      get_gar_subscription / get_gar_subscription_end_date / refresh_subscription_cache
  counts    refresh_allocations_cache and has_allocations (the licence counts, CSV)
  update    the institution saved again with a later end: django-gar POSTs the subscription
  again     a second institution saved with the same subscription id: PUT, 409, then POST
  delete    the institution deleted: django-gar DELETEs the subscription

django-gar looks up the start date of an update at the real GAR's host, hard-coded
(https://abonnement.gar.education.fr/abonnements); the harness resolves that name to the gateway
(--real-gar-port), as /etc/hosts would, so the lookup reaches the gateway rather than the internet.

Prints one JSON object: what each step returned and every error django-gar logged.

Usage: subscriptions.py --base https://127.0.0.1:PORT/ --cert C --key K --uai U --db DIR
       --distributor D --resource R --real-gar-port PORT   (REQUESTS_CA_BUNDLE: the gateway's CA)
"""

import argparse
import datetime
import json
import logging
import os
import socket
import sys

import django
from django.conf import settings

REAL_GAR_HOST = "abonnement.gar.education.fr"


class Errors(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def resolve_real_gar_to(port):
    real = socket.getaddrinfo

    def getaddrinfo(host, p, *a, **kw):
        if host == REAL_GAR_HOST:
            return real("127.0.0.1", port, *a, **kw)
        return real(host, p, *a, **kw)

    socket.getaddrinfo = getaddrinfo


def configure(args):
    settings.configure(
        DEBUG=False,
        SECRET_KEY="django-gar-interop-test-only",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_gar",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(args.db, "subscriptions.sqlite3"),
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        TIME_ZONE="Europe/Paris",
        # What a publisher sets to use the real GAR, pointed at the gateway instead.
        GAR_BASE_SUBSCRIPTION_URL=args.base + "abonnement/",
        GAR_ALLOCATIONS_URL=args.base + "decompteaffectations",
        GAR_DISTRIBUTOR_ID=args.distributor,
        GAR_RESOURCES_ID=args.resource,
        GAR_ORGANIZATION_NAME="Cahier Exemple",
        GAR_CERTIFICATE_PATH=args.cert,
        GAR_KEY_PATH=args.key,
    )
    django.setup()


def main():
    p = argparse.ArgumentParser()
    for name in ("base", "cert", "key", "uai", "db", "distributor", "resource"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--real-gar-port", type=int, required=True)
    args = p.parse_args()
    resolve_real_gar_to(args.real_gar_port)
    configure(args)
    errors = Errors()
    logging.getLogger("django_gar").addHandler(errors)

    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model
    from django_gar import gar
    from django_gar.models import GARInstitution

    out = {}
    users = get_user_model().objects
    sub_id = "abo-django-gar-ws"

    def step(name):
        out[name + "_errors"] = errors.lines[:]
        errors.lines.clear()

    inst = GARInstitution.objects.create(
        uai=args.uai,
        institution_name="Collège",
        user=users.create(username="college"),
        subscription_id=sub_id,
        ends_at=datetime.date(2027, 8, 15),
    )
    out["id_ent"] = inst.id_ent
    step("create")

    sub = gar.get_gar_subscription(args.uai, sub_id)
    out["found"] = sub is not None
    out["debut"] = sub.find("debutvalidite").text if sub else None
    out["fin"] = gar.get_gar_subscription_end_date(args.uai, sub_id)
    inst.refresh_subscription_cache()
    out["cache"] = inst.subscription_cache
    step("read")

    out["counts_refreshed"] = inst.refresh_allocations_cache()
    out["allocations"] = inst.allocations_cache
    out["has_allocations"] = inst.has_allocations()
    step("counts")

    inst.ends_at = datetime.date(2028, 8, 15)
    inst.save()
    out["fin_after_update"] = gar.get_gar_subscription_end_date(args.uai, sub_id)
    step("update")

    # Another record of the same school and id (a back office re-created it): PUT, 409, POST.
    # A raw delete sends no signal, so django-gar sends no DELETE.
    GARInstitution.objects.filter(pk=inst.pk)._raw_delete(using="default")
    again = GARInstitution.objects.create(
        uai=args.uai,
        institution_name="Collège",
        user=users.create(username="college-again"),
        subscription_id=sub_id,
        ends_at=datetime.date(2029, 8, 15),
    )
    out["fin_after_again"] = gar.get_gar_subscription_end_date(args.uai, sub_id)
    step("again")

    again.delete()
    out["found_after_delete"] = gar.get_gar_subscription(args.uai, sub_id) is not None
    step("delete")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
