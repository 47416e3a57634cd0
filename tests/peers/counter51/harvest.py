#!/usr/bin/env python3
"""Harvests COUNTER 5.1 reports from the gateway with celus-nigiri's Sushi51Client, the SUSHI
harvester of the Celus usage-statistics platform (PyPI, unchanged), and prints what it read.

Usage: harvest.py BASE_URL CUSTOMER_ID REQUESTOR_ID API_KEY YYYY-MM YYYY-MM REPORT...
Prints one JSON object per report: {"report", "http_status", "errors", "warnings", "infos"
(exception codes as nigiri classes them), "records": [{"item", "metric", "month", "value",
"dimensions"}]}.
"""
import io
import json
import sys
from datetime import date

from celus_nigiri.client import Sushi51Client


def month(s: str) -> date:
    y, m = s.split("-")
    return date(int(y), int(m), 1)


def main() -> int:
    if len(sys.argv) < 8:
        print(__doc__, file=sys.stderr)
        return 2
    base, customer, requestor, api_key, begin, end = sys.argv[1:7]
    client = Sushi51Client(
        url=base,
        customer_id=customer,
        requestor_id=requestor or None,
        extra_params={"api_key": api_key},
    )
    for report_type in sys.argv[7:]:
        out = io.BytesIO()
        report = client.get_report_data(report_type, month(begin), month(end), output_content=out)
        # The report has read its exceptions already; reading it again for the items would
        # collect them twice.
        codes = lambda errors: sorted(int(e.code) for e in errors)  # noqa: E731
        found = {
            "errors": codes(report.errors),
            "warnings": codes(report.warnings),
            "infos": codes(report.infos),
        }
        header, items = report.fd_to_dicts(out)
        records = [
            {
                "item": r.item if isinstance(r.item, str) else None,
                "metric": r.metric,
                "month": r.start.isoformat()[:7],
                "value": r.value,
                "dimensions": r.dimension_data,
            }
            for r in report.read_report(header, items)
        ]
        print(
            json.dumps(
                {
                    "report": report_type,
                    "http_status": report.http_status_code,
                    **found,
                    "records": records,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
