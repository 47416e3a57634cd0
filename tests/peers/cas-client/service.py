#!/usr/bin/env python3
"""A provider's web application that logs users in over CAS with python-cas, the way the
published GAR integration django-gar does (django_gar/middleware.py, views.py): the gateway is
only its base URL.

  GET  /?sso_id=gar[&renew=1][&gateway=1]  -> 302 to the CAS login (python-cas builds the URL)
  GET  /?sso_id=gar&ticket=ST-...          -> validates with python-cas, answers JSON:
                                              {"user", "attributes", "uai"} or 403 {"error"}
  POST /logout (logoutRequest=...)         -> the back-channel logout, as django-gar reads it
  GET  /logouts                            -> the SessionIndex values received, as JSON

Usage: service.py --server-url http://127.0.0.1:PORT/ [--version 3|2|1]
Prints "READY <port>" once listening on 127.0.0.1 (an ephemeral port).
"""

import argparse
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

from cas import CASClient, CASClientV3

LOGOUTS = []
LOCK = threading.Lock()


def client(args, port, renew=False):
    # django-gar: service_url = "{scheme}://{host}/?sso_id=gar"
    service_url = "http://127.0.0.1:{}/?sso_id=gar".format(port)
    return CASClient(
        version=args.version, server_url=args.server_url, service_url=service_url, renew=renew
    )


def make_handler(args):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            port = self.server.server_address[1]
            url = urllib.parse.urlparse(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/logouts":
                with LOCK:
                    return self.answer(200, list(LOGOUTS))
            if q.get("sso_id", "").upper() != "GAR":
                return self.answer(404, {"error": "not found"})
            cas = client(args, port, renew=q.get("renew") == "1")
            ticket = q.get("ticket")
            if not ticket:
                login = cas.get_login_url()
                if q.get("gateway") == "1":
                    login += "&gateway=true"
                self.send_response(302)
                self.send_header("location", login)
                self.end_headers()
                return
            if args.version == 1:
                user, attributes, _ = cas.verify_ticket(ticket)
                if not user:
                    return self.answer(403, {"error": "ticket refused"})
                return self.answer(200, {"user": user, "attributes": attributes})
            # As django-gar: the raw response, parsed for cas:UAI under cas:attributes.
            raw = cas.get_verification_response(ticket)
            user, attributes, _ = cas.verify_response(raw)
            if not user:
                try:
                    failure = ElementTree.fromstring(raw).find(
                        "{http://www.yale.edu/tp/cas}authenticationFailure"
                    )
                    code = failure.get("code") if failure is not None else None
                except ElementTree.ParseError:
                    code = None
                return self.answer(403, {"error": "ticket refused", "code": code})
            tree = ElementTree.fromstring(raw)
            ns = {"cas": "http://www.yale.edu/tp/cas"}
            success = tree.find("cas:authenticationSuccess", ns)
            found = success.find("cas:attributes", ns) if success is not None else None
            uais = [u.text.upper() for u in found.findall("cas:UAI", ns)] if found is not None else []
            return self.answer(
                200, {"user": user, "attributes": attributes, "uai": uais, "ticket": ticket}
            )

        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            if urllib.parse.urlparse(self.path).path != "/logout":
                return self.answer(404, {"error": "not found"})
            data = urllib.parse.parse_qs(body).get("logoutRequest", [""])[0]
            # python-cas's own reading of a CAS single-logout request.
            slo = CASClientV3.get_saml_slos(data)
            index = slo[0].text if slo else None
            with LOCK:
                LOGOUTS.append(index)
            self.send_response(204)
            self.end_headers()

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server-url", required=True)
    p.add_argument("--version", type=int, default=3)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args))
    print("READY {}".format(server.server_address[1]), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
