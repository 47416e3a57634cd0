#!/usr/bin/env python3
"""Verifies the signature of the Assertion of a SAML Response with signxml (not xmlsec, which
the gateway uses), against one certificate, as a provider's SAML stack would.

Usage: verify.py RESPONSE.xml CERT.pem
Prints "valid" and exits 0, or prints why not and exits 1.
"""

import sys

from lxml import etree
from signxml import XMLVerifier

NS = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}


def main():
    xml, cert = sys.argv[1], sys.argv[2]
    with open(xml, "rb") as f:
        root = etree.fromstring(f.read(), parser=etree.XMLParser(resolve_entities=False))
    with open(cert) as f:
        pem = f.read()
    assertions = root.xpath("//saml:Assertion", namespaces=NS)
    if len(assertions) != 1:
        print("expected one Assertion, found %d" % len(assertions))
        return 1
    try:
        XMLVerifier().verify(assertions[0], x509_cert=pem, id_attribute="ID")
    except Exception as e:  # noqa: BLE001 - any refusal is a "no"
        print("invalid: %s" % e)
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
