"""The public addresses the service hands out: the API prefix and a report's tracking URL.

    report_url("https://rep.example", 42)  -> "https://rep.example/api/v1/reports/42"

The web app mounts its JSON routes under `API`; the SMTP doors and the web both build
tracking URLs with `report_url`, from `site_url` or from the request's own base URL.
"""

from __future__ import annotations

API = "/api/v1"


def report_url(base_url: str, report_id: int) -> str:
    """The tracking URL of a report, under the site at `base_url` (with or without a final /)."""
    return f"{base_url.rstrip('/')}{API}/reports/{report_id}"
