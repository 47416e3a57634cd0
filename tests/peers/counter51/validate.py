#!/usr/bin/env python3
"""Validates JSON documents against the COUNTER_SUSHI 5.1 OpenAPI specification's JSON schemas.

Usage: validate.py SPEC CASES
  SPEC   the OpenAPI 3.1 document (tests/fixtures/counter51/COUNTER_SUSHI_API.json)
  CASES  a JSON array of {"name", "schema", "instance"}: "schema" is a JSON pointer into SPEC
         (e.g. "#/components/schemas/IR", "#/components/responses/200_Status/content/application~1json/schema")

Prints one JSON object per case, {"name", "valid", "errors": [...]}, and exits 0 whatever the
verdicts (the caller decides what it expected); 2 on a usage or schema error.
The validator is python-jsonschema (Draft 2020-12, the dialect of OpenAPI 3.1), with format
checking.
"""
import json
import sys

from jsonschema import Draft202012Validator, FormatChecker


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        cases = json.load(f)
    for case in cases:
        # The whole document is the root, so that "#/components/schemas/..." references resolve.
        root = dict(spec)
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        root["$ref"] = case["schema"]
        validator = Draft202012Validator(root, format_checker=FormatChecker())
        errors = [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}"
            for e in validator.iter_errors(case["instance"])
        ]
        print(json.dumps({"name": case["name"], "valid": not errors, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
