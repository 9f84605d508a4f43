"""The published OpenAPI drives schemathesis against the app: every operation, once with the
token of the role it needs and once without any; no answer is a 5xx, and every 4xx carries the
`{"error": {"code", "message"}}` body. Bounded: 25 examples per operation and token, on SQLite
(the PostgreSQL paths are the same code, covered by the other web tests)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mailrep.config import Settings
from mailrep.intake.limits import IntakeLimits
from mailrep.run import build_app
from mailrep.store.db import Database
from tests.intake.mail import spam
from tests.web.conftest import add_account

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

_mail = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda a, b, n: spam(f"45.{a}.{b}.9", n=n), st.integers(1, 250), st.integers(1, 250), st.integers(0, 99)),
    st.builds(lambda h, v, body: f"{h}: {v}\n\n{body}".encode("utf-8", "surrogatepass"),
              st.text(min_size=1, max_size=30), st.text(max_size=200), st.text(max_size=200)),
)
for media in ("message/rfc822", "text/plain", "application/octet-stream"):
    schemathesis.openapi.media_type(media, _mail)


_DIR = Path(tempfile.mkdtemp(prefix="mailrep-fuzz-"))
atexit.register(shutil.rmtree, _DIR, True)
_DB = Database(f"sqlite:///{_DIR / 'mailrep.sqlite3'}")
_DB.upgrade()  # loading the schema runs the app's lifespan, which reads the store
_APP = build_app(Settings(data_dir=_DIR, sections={"web": {"lookups_per_minute": 0}}), _DB,
                  limits=IntakeLimits(trace_workers=0, max_bytes=100_000, delisting_per_hour=10_000))
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _APP)


@pytest.fixture(scope="module")
def fuzz_env():
    now = datetime.now(UTC)
    tokens = {role: add_account(_DB, f"fuzz-{role}", role, now)[1] for role in ("reporter", "feed", "deputy")}
    with TestClient(_APP):  # runs the lifespan: the intake writer and processor
        yield _APP, tokens
    _DB.dispose()


ROLE_OF = {"/api/v1/reports": "reporter", "/api/v1/reporter": "reporter", "/api/v1/trap-hits": "feed",
           "/api/v1/volume": "feed", "/api/v1/feedback": "feed"}


def _token_for(path: str, tokens: dict[str, str]) -> str:
    """The token of the role the operation needs (public ones ignore it)."""
    return tokens[next((r for p, r in ROLE_OF.items() if path.startswith(p)), "deputy")]


def test_every_operation_is_fuzzed():
    operations = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert len(operations) >= 14, sorted(operations)
    assert ("GET", "/api/v1/reports") in operations and ("POST", "/api/v1/feedback") in operations


@pytest.mark.parametrize("token", ["role", "none"])
@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, fuzz_env, token):
    _, tokens = fuzz_env
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    if token == "role":
        headers["Authorization"] = f"Bearer {_token_for(case.path, tokens)}"
    case.headers = headers
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:500]}"
    if 400 <= response.status_code < 500:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
