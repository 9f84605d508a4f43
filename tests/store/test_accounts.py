from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailrep.errors import BadInput, Conflict, NotAuthenticated, NotFound
from mailrep.store import accounts as acc

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_token_is_shown_once_and_stored_hashed(db):
    import sqlalchemy as sa

    from mailrep.store.tables import api_tokens

    with db.transaction() as conn:
        a = acc.create_account(conn, "alice", "reporter", NOW)
        secret = acc.create_token(conn, a.id, NOW, label="cli")
    with db.read() as conn:
        stored = conn.execute(sa.select(api_tokens.c.token_hash)).scalars().all()
        assert stored == [acc.hash_token(secret)] and secret not in stored
        assert acc.authenticate(conn, secret) == a


@pytest.mark.parametrize("secret", ["", "mr_", "mr_unknown", "not-a-token", "mr_" + "x" * 300])
def test_unknown_tokens_are_rejected(db, secret):
    with db.transaction() as conn:
        a = acc.create_account(conn, "bob", "feed", NOW)
        acc.create_token(conn, a.id, NOW)
    with db.read() as conn, pytest.raises(NotAuthenticated):
        acc.authenticate(conn, secret)


def test_revoked_token_and_disabled_account_cannot_authenticate(db):
    with db.transaction() as conn:
        a = acc.create_account(conn, "carol", "deputy", NOW)
        t1, t2 = acc.create_token(conn, a.id, NOW), acc.create_token(conn, a.id, NOW)
        acc.revoke_token(conn, t1, NOW)
    with db.read() as conn:
        with pytest.raises(NotAuthenticated):
            acc.authenticate(conn, t1)
        assert acc.authenticate(conn, t2).name == "carol"
    with db.transaction() as conn:
        acc.set_account_status(conn, a.id, "disabled")
    with db.read() as conn, pytest.raises(NotAuthenticated):
        acc.authenticate(conn, t2)
    with db.transaction() as conn, pytest.raises(NotFound):
        acc.revoke_token(conn, t1, NOW)


def test_account_names_roles_and_conflicts(db):
    with db.transaction() as conn:
        a = acc.create_account(conn, "dave", "feed", NOW)
        assert acc.ensure_account(conn, "dave", "feed", NOW) == a
        with pytest.raises(Conflict):
            acc.ensure_account(conn, "dave", "admin", NOW)
        with pytest.raises(Conflict):
            acc.create_account(conn, "dave", "feed", NOW)
        with pytest.raises(BadInput):
            acc.create_account(conn, "eve", "superuser", NOW)
        with pytest.raises(BadInput):
            acc.create_account(conn, "  ", "admin", NOW)
        with pytest.raises(NotFound):
            acc.get_account(conn, "nobody")
        assert acc.get_account(conn, a.id) == a


def test_reporter_profile(db):
    with db.transaction() as conn:
        a = acc.create_account(conn, "isp", "reporter", NOW)
        r = acc.add_reporter(conn, a.id, mailhosts="mx1.example.net, 198.51.100.0/24")
        assert r.mailhosts == ("mx1.example.net", "198.51.100.0/24")
        assert (r.trust_weight, r.daily_quota, r.kind, r.status) == (1.0, 5000, "user", "active")
        with pytest.raises(Conflict):
            acc.add_reporter(conn, a.id)
        assert acc.reporter_by_submit_code(conn, r.submit_code) == r
        r2 = acc.update_reporter(conn, a.id, trust_weight=0.5, status="suspended")
        assert (r2.trust_weight, r2.status, r2.mailhosts) == (0.5, "suspended", r.mailhosts)
        with pytest.raises(BadInput):
            acc.update_reporter(conn, a.id, status="banned")
        with pytest.raises(BadInput):
            acc.add_reporter(conn, a.id, kind="robot")
