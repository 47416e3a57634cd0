#!/usr/bin/env bash
# Refreshes the screenshots of docs/images/ from the page test (tests/it/pages_browser.rs),
# which renders the main pages in Debian's headless Chromium and writes every one of them,
# at 1280 and 375 px, under target/screenshots/. Only the images the guides show are copied;
# each must stay under 200 KB. Needs what `scripts/setup.sh` installs (chromium, npm ci of
# tests/peers/pages). Run it (or `make screenshots`) after changing a page, and commit docs/images/.
set -euo pipefail
cd "$(dirname "$0")/.."

# The images the guides show: <name in target/screenshots> (docs/images/ keeps the name).
IMAGES=(
    accueil-1280.png        # docs/operators.md: the landing page
    lien-invalide-375.png   # docs/ent-operators.md: a refusal, at phone width
    affectations-1280.png   # docs/ent-operators.md: the assignment page
    choix-ent-375.png       # docs/publishers.md: the ENT chooser (application first)
    audit-1280.png          # docs/auditors-and-audience.md: the audit search form
)
MAX_BYTES=204800

rm -rf target/screenshots
cargo test --test it pages_browser -- --quiet
mkdir -p docs/images
for img in "${IMAGES[@]}"; do
    src="target/screenshots/$img"
    if [ ! -f "$src" ]; then
        echo "screenshots: the page test wrote no $img" >&2
        exit 1
    fi
    size=$(stat -c %s "$src")
    if [ "$size" -gt "$MAX_BYTES" ]; then
        echo "screenshots: $img is $size bytes, more than $MAX_BYTES" >&2
        exit 1
    fi
    cp "$src" "docs/images/$img"
done
echo "screenshots: ${#IMAGES[@]} image(s) copied to docs/images/"
