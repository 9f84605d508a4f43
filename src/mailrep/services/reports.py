"""A reporter's own reports, for the `/reports` page.

    reports = Reports(db)
    reports.of_reporter(account_id, page=1, per_page=50)   {"reports", "page", "more"}
"""

from __future__ import annotations

from typing import Any

from mailrep.errors import BadInput
from mailrep.store import reports
from mailrep.store.db import Database

MAX_PER_PAGE = 200


class Reports:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of_reporter(self, account_id: int, *, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        """One page (1-based) of the reporter's reports, newest first; `more` when a next page exists."""
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise BadInput(f"page must be >= 1 and per_page 1..{MAX_PER_PAGE}")
        with self.db.read() as conn:
            rows = reports.reporter_reports(conn, account_id, offset=(page - 1) * per_page, limit=per_page + 1)
        return {"reports": rows[:per_page], "page": page, "more": len(rows) > per_page}
