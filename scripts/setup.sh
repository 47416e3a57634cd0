#!/usr/bin/env bash
# Installs what passerelle's build and tests need on Debian, when it is missing, and makes sure
# a Redis answers on 127.0.0.1:6379. Idempotent and quiet when everything is present.
# `setup.sh build` installs only what building the binary needs (the demo needs nothing more).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found. Install Rust first: https://rustup.rs (curl ... | sh), then re-run." >&2
    exit 1
fi

# samael's xmlsec feature builds bindings with bindgen (libclang) against libxmlsec1 and libxml2;
# xmlsec1 is the independent verifier of the interoperability tests; redis-server for the store tests.
PACKAGES=(libclang-dev libxmlsec1-dev libxml2-dev libssl-dev pkg-config)
ONLY_BUILD=false
if [ "${1:-}" = "build" ]; then
    ONLY_BUILD=true
else
    # chromium: the pages rendered and checked for accessibility (tests/it/pages_browser.rs).
    PACKAGES+=(xmlsec1 redis-server redis-tools chromium)
fi
missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg -s "$p" >/dev/null 2>&1; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$ONLY_BUILD" = true ]; then
    exit 0
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    echo "setup: starting redis-server on 127.0.0.1:6379 (nothing kept on disk)"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 50); do
        if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
            break
        fi
        sleep 0.2
    done
    if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
        echo "setup: redis-server did not answer on 127.0.0.1:6379" >&2
        exit 1
    fi
fi

# The independent OIDC relying party of the interoperability tests: Python's Authlib.
if ! python3 -c "import authlib, requests" 2>/dev/null; then
    echo "setup: installing the Python OIDC test peer (authlib, requests)"
    if ! python3 -m pip install -q -r "$(dirname "$0")/../tests/peers/oidc-rp/requirements.txt" 2>/dev/null; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-authlib python3-requests >/dev/null
    fi
fi

# The CAS clients of the CAS interoperability tests: python-cas, and the published GAR
# integration django-gar (Django) that logs users in with it.
if ! python3 -c "import cas, lxml, django_gar, bs4, defusedxml" 2>/dev/null; then
    echo "setup: installing the Python CAS test peers (python-cas, django-gar)"
    python3 -m pip install -q -r "$(dirname "$0")/../tests/peers/cas-client/requirements.txt" \
        -r "$(dirname "$0")/../tests/peers/django-gar/requirements.txt"
fi

# The independent XML-signature verifier of the key rollover test: signxml (not xmlsec).
if ! python3 -c "import signxml" 2>/dev/null; then
    echo "setup: installing the SAML signature test peer (signxml)"
    python3 -m pip install -q -r "$(dirname "$0")/../tests/peers/saml-verify/requirements.txt"
fi

# The COUNTER 5.1 peers (tests/it/audience_r51.rs): python-jsonschema, the validator against
# the published COUNTER_SUSHI 5.1 specification, and celus-nigiri, a SUSHI 5.1 harvester.
if ! python3 -c "import jsonschema, referencing, celus_nigiri" 2>/dev/null; then
    echo "setup: installing the COUNTER 5.1 test peers (python-jsonschema, celus-nigiri)"
    python3 -m pip install -q -r "$(dirname "$0")/../tests/peers/counter51/requirements.txt"
fi

# The pages check (tests/it/pages_browser.rs): puppeteer-core driving Debian's chromium, and
# axe-core; no browser is downloaded.
PAGES_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/peers/pages"
if [ ! -d "$PAGES_DIR/node_modules" ] && command -v npm >/dev/null 2>&1; then
    echo "setup: npm ci in tests/peers/pages"
    (cd "$PAGES_DIR" && npm ci --no-audit --no-fund --silent)
fi

# panva's oidc-provider, the ENT's OpenID Provider of the OIDC interop tests (node 20+ and npm).
ENT_OP_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/peers/ent-op"
if [ ! -d "$ENT_OP_DIR/node_modules" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "setup: npm ci in tests/peers/ent-op"
        (cd "$ENT_OP_DIR" && npm ci --no-audit --no-fund --silent)
    else
        # Only the OIDC interop test needs it; the demo and the gateway do not.
        echo "setup: npm not found: install node 20+ and npm for the OIDC interop test (tests/it/ent_oidc.rs)" >&2
    fi
fi
