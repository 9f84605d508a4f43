"""The schema: SQLAlchemy Core tables, one for SQLite and PostgreSQL alike.

Times are stored as naive UTC (`UTCDateTime`) and come back as aware UTC datetimes. IPs and
networks are text in their canonical form (`ipaddress` str()). Raw messages are zlib
compressed (`raw_z`) beside their sha256 and sizes. Enumerations are short strings guarded by
CHECK constraints, with the allowed values exported below so code never repeats literals.

Layout for what joins later: reputation reads `reports`, `trap_hits`, `volume` and `listings`
by IP; a bond ledger hangs off `accounts` (an account with a sender role); abuse notification
reads `reports` by source IP. None of them needs these tables reshaped.

Change detection for the DNS side: `max(listing_events.id)` (see blocklist.change_marker).

Changing a table here needs a new migration in `store/migrations/versions/`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from mailrep.roles import DAILY_QUOTA, ROLES

# --- allowed values --------------------------------------------------------------------------
ACCOUNT_STATUSES = ("active", "disabled")
REPORTER_STATUSES = ("active", "suspended")
REPORTER_KINDS = ("user", "mole", "simp")
CHANNELS = ("http", "smtp", "fbl", "import")
REPORT_STATES = ("accepted", "processed", "parked")
LISTING_STATES = ("listed", "unlisted", "delisted", "exempt")
REQUEST_STATUSES = ("pending", "approved", "denied")
SENDER_STATUSES = ("pending", "approved", "suspended", "expelled")
SENDER_HOLDS = ("policy", "deputy")
LEDGER_KINDS = ("deposit", "debit", "reversal")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# 64-bit keys on PostgreSQL; SQLite needs plain INTEGER for its rowid alias.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A point in time: stored as naive UTC, returned as an aware UTC datetime."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # SQLite keeps times as text. The generic path runs two converters per value (this
    # decorator's, then SQLAlchemy's SQLite DATETIME formatting or its regex parsing); the
    # fused ones below write the same text (SQLAlchemy's storage format, microseconds always)
    # and read it with `datetime.fromisoformat`, several times faster on the intake's hot
    # paths (report inserts, listing reads and updates). Anything else takes the generic path.

    def bind_processor(self, dialect: Any) -> Any:
        generic = super().bind_processor(dialect)
        if dialect.name != "sqlite":
            return generic

        def process(value: Any) -> Any:
            if type(value) is datetime:
                if value.tzinfo is not None:
                    value = value.astimezone(UTC)
                return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:"
                        f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}")
            return generic(value) if generic is not None else value

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        generic = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return generic

        def process(value: Any) -> Any:
            if type(value) is str:
                try:
                    d = datetime.fromisoformat(value)
                except ValueError:
                    pass
                else:
                    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
            return generic(value) if generic is not None else value

        return process


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name)


def _pk() -> sa.Column[Any]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


accounts = sa.Table(
    "accounts", metadata,
    _pk(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    _one_of("role", ROLES, "role"),
    _one_of("status", ACCOUNT_STATUSES, "status"),
)

api_tokens = sa.Table(
    "api_tokens", metadata,
    _pk(),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

reporters = sa.Table(
    "reporters", metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("mailhosts", sa.Text(), nullable=False, server_default=""),
    sa.Column("trust_weight", sa.Float(), nullable=False, server_default="1.0"),
    sa.Column("daily_quota", sa.Integer(), nullable=False, server_default=str(DAILY_QUOTA)),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("kind", sa.String(8), nullable=False, server_default="user"),
    sa.Column("submit_code", sa.String(64), nullable=True, unique=True),
    # set by the reporter (or staff) through `reporter set` / PUT /reporter/mailhosts: the
    # declared mail hosts are complete, so no source of its reports is a probable forwarder.
    sa.Column("mailhosts_confirmed", sa.Boolean(), nullable=False, server_default=sa.false()),
    _one_of("status", REPORTER_STATUSES, "status"),
    _one_of("kind", REPORTER_KINDS, "kind"),
)

reports = sa.Table(
    "reports", metadata,
    _pk(),
    sa.Column("reporter_id", ID, sa.ForeignKey("accounts.id"), nullable=True),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("raw_z", sa.LargeBinary(), nullable=False),
    sa.Column("raw_size", sa.Integer(), nullable=False),
    sa.Column("stored_size", sa.Integer(), nullable=False),
    sa.Column("truncated", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("trace_json", sa.JSON(), nullable=True),
    sa.Column("source_ip", sa.String(45), nullable=True),
    sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("count_reason", sa.String(32), nullable=True),  # policy.counting.Reason when not counted
    sa.Column("flags", sa.JSON(), nullable=True),
    sa.Column("state", sa.String(16), nullable=False, server_default="accepted"),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("dedupe_key", sa.String(160), nullable=False, unique=True),
    # Covers the policy's evidence query (store.evidence): no row read, whose columns sit
    # behind the raw message; the quota count reads (reporter_id, received_at) alone.
    sa.Index("ix_reports_evidence", "source_ip", "received_at", "counted", "state", "reporter_id"),
    sa.Index("ix_reports_reporter_id_received_at", "reporter_id", "received_at"),
    _one_of("channel", CHANNELS, "channel"),
    _one_of("state", REPORT_STATES, "state"),
)

# The listable IPs of the trusted relays in each reporter's traces: hosts that receive mail for
# that reporter. A source that several OTHER reporters list here is a probable forwarder
# (policy.counting).
receiving_hosts = sa.Table(
    "receiving_hosts", metadata,
    sa.Column("ip", sa.String(45), primary_key=True),
    sa.Column("reporter_id", ID, sa.ForeignKey("accounts.id"), primary_key=True),
)

# Reports whose post-commit work (re-evaluating their source) is still to do: written in the
# transaction that stores the report, deleted when the work is done or the report parked. A
# narrow queue instead of an update of `reports.state` per report: that update rewrote the
# whole row (raw message and trace included) and moved its entries in the evidence index.
report_queue = sa.Table(
    "report_queue", metadata,
    sa.Column("report_id", ID, sa.ForeignKey("reports.id"), primary_key=True, autoincrement=False),
)

trap_hits = sa.Table(
    "trap_hits", metadata,
    _pk(),
    sa.Column("feed_account_id", ID, sa.ForeignKey("accounts.id"), nullable=True, index=True),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("raw_z", sa.LargeBinary(), nullable=False),
    sa.Column("raw_size", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("source_ip", sa.String(45), nullable=True),
    sa.Column("trace_json", sa.JSON(), nullable=True),
    sa.Column("trap_address", sa.String(320), nullable=True),  # never published
    sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("flags", sa.JSON(), nullable=True),
    sa.Column("dedupe_key", sa.String(160), nullable=False, unique=True),
    sa.Index("ix_trap_hits_source_ip_received_at", "source_ip", "received_at"),
)

volume = sa.Table(
    "volume", metadata,
    _pk(),
    sa.Column("ip", sa.String(45), nullable=False, index=True),
    sa.Column("count", sa.BigInteger(), nullable=False),
    sa.Column("period_start", UTCDateTime(), nullable=False),
    sa.Column("period_end", UTCDateTime(), nullable=False),
    sa.Column("feed_account_id", ID, sa.ForeignKey("accounts.id"), nullable=True),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("count >= 0", name="count_nonnegative"),
)

listings = sa.Table(
    "listings", metadata,
    _pk(),
    sa.Column("key", sa.String(64), nullable=False, unique=True),  # IP or CIDR text
    sa.Column("family", sa.SmallInteger(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("manual", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("score", sa.Float(), nullable=False, server_default="0"),
    sa.Column("first_evidence", UTCDateTime(), nullable=True),
    sa.Column("last_evidence", UTCDateTime(), nullable=True),
    sa.Column("listed_since", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("delisted_at", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Index("ix_listings_state_expires_at", "state", "expires_at"),
    _one_of("state", LISTING_STATES, "state"),
    sa.CheckConstraint("family IN (4, 6)", name="family"),
)

listing_events = sa.Table(
    "listing_events", metadata,
    _pk(),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("old_state", sa.String(16), nullable=False),
    sa.Column("new_state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("actor_role", sa.String(16), nullable=False),  # policy|deputy|admin: no names
    sa.Column("score", sa.Float(), nullable=False, server_default="0"),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Index("ix_listing_events_key_id", "key", "id"),
)

delisting_requests = sa.Table(
    "delisting_requests", metadata,
    _pk(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("ip", sa.String(45), nullable=False, index=True),
    sa.Column("contact_email", sa.String(320), nullable=False),
    sa.Column("explanation", sa.Text(), nullable=False),
    sa.Column("client_addr", sa.String(45), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("decided_by", ID, sa.ForeignKey("accounts.id"), nullable=True),
    sa.Column("decision_reason", sa.Text(), nullable=True),
    sa.Index("ix_delisting_requests_status_created_at", "status", "created_at"),
    sa.Index("ix_delisting_requests_client_addr_created_at", "client_addr", "created_at"),
    _one_of("status", REQUEST_STATUSES, "status"),
)

audit_log = sa.Table(
    "audit_log", metadata,
    _pk(),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor_account_id", ID, sa.ForeignKey("accounts.id"), nullable=True, index=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(200), nullable=False, server_default=""),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Column("detail", sa.JSON(), nullable=True),
    sa.Index("ix_audit_log_target", "target"),
)


# --- bonded senders (store/bond.py) ------------------------------------------------------------
# A sender is an account with role `sender`; `balance` (minor units) is kept with every ledger
# append and checked against the entries by `mailrep bond verify`.
senders = sa.Table(
    "senders", metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("hold", sa.String(16), nullable=True),  # who suspended it: policy | deputy
    sa.Column("category", sa.SmallInteger(), nullable=False),
    sa.Column("trust", sa.SmallInteger(), nullable=False),
    sa.Column("balance", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("reviewed_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    _one_of("status", SENDER_STATUSES, "status"),
    _one_of("hold", SENDER_HOLDS, "hold"),
    sa.CheckConstraint("trust BETWEEN 0 AND 3", name="trust"),
)

sender_networks = sa.Table(
    "sender_networks", metadata,
    _pk(),
    sa.Column("sender_id", ID, sa.ForeignKey("senders.account_id"), nullable=False, index=True),
    sa.Column("network", sa.String(64), nullable=False, unique=True),  # canonical CIDR text
)

sender_domains = sa.Table(
    "sender_domains", metadata,
    _pk(),
    sa.Column("sender_id", ID, sa.ForeignKey("senders.account_id"), nullable=False, index=True),
    sa.Column("domain", sa.String(253), nullable=False, unique=True),
)

sender_events = sa.Table(
    "sender_events", metadata,
    _pk(),
    sa.Column("sender_id", ID, sa.ForeignKey("senders.account_id"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("old_status", sa.String(16), nullable=False),
    sa.Column("new_status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("actor_role", sa.String(16), nullable=False),  # policy|deputy|admin
    sa.Index("ix_sender_events_sender_id_id", "sender_id", "id"),
)

# The ledger: append-only. One row per transaction (its idempotency key unique: a deposit's
# reference, a debit's report, a reversal's dispute), one row per posting in `ledger_entries`,
# numbered without gaps (`seq`, the primary key: two writers appending at once conflict) and
# hash-chained (policy/ledger.py).
ledger_transactions = sa.Table(
    "ledger_transactions", metadata,
    _pk(),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("sender_id", ID, sa.ForeignKey("senders.account_id"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),  # minor units, > 0
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("memo", sa.Text(), nullable=False, server_default=""),
    sa.Column("reference", sa.String(200), nullable=True),  # a deposit's payment reference
    sa.Column("report_id", ID, sa.ForeignKey("reports.id"), nullable=True),  # a debit's report
    sa.Column("dispute_id", ID, nullable=True),  # a reversal's dispute
    sa.Index("ix_ledger_transactions_sender_id_kind", "sender_id", "kind"),
    _one_of("kind", LEDGER_KINDS, "kind"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
)

ledger_entries = sa.Table(
    "ledger_entries", metadata,
    sa.Column("seq", ID, primary_key=True, autoincrement=False),
    sa.Column("transaction_id", ID, sa.ForeignKey("ledger_transactions.id"), nullable=False, index=True),
    sa.Column("account", sa.String(200), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),  # minor units; debit +, credit -
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

bond_disputes = sa.Table(
    "bond_disputes", metadata,
    _pk(),
    sa.Column("sender_id", ID, sa.ForeignKey("senders.account_id"), nullable=False, index=True),
    sa.Column("transaction_id", ID, sa.ForeignKey("ledger_transactions.id"), nullable=False, unique=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("decided_by", ID, sa.ForeignKey("accounts.id"), nullable=True),
    sa.Column("decision_reason", sa.Text(), nullable=True),
    _one_of("status", REQUEST_STATUSES, "status"),
)


# --- reputation (store/reputation.py) ------------------------------------------------------
# Queries about each IP on bl. per UTC day, counted by the DNS node and added up on each flush
# (kept apart from the mail volume telemetry in `volume`).
dns_queries = sa.Table(
    "dns_queries", metadata,
    sa.Column("ip", sa.String(45), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("count", sa.BigInteger(), nullable=False),
    sa.Index("ix_dns_queries_day", "day"),
)

REP_KINDS = ("ip", "net", "domain", "all")  # `all`: the observed world (key "*"), for magnitudes

# One row per entity per UTC day (kept `history_days`); rebuilt from the raw evidence by the
# reputation recompute (delete the day's rows, insert them again: idempotent).
rep_daily = sa.Table(
    "rep_daily", metadata,
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("volume", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("dns_queries", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("complaints", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("fbl", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("trap_hits", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("score", sa.Float(), nullable=True),  # the score as of the day's last recompute
    sa.Index("ix_rep_daily_day", "day"),
    _one_of("kind", REP_KINDS, "kind"),
)

# The current reputation of every entity ever seen (what the rep. zone publishes); first_seen
# outlives the daily history.
rep_current = sa.Table(
    "rep_current", metadata,
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("score", sa.Float(), nullable=True),
    sa.Column("confidence", sa.String(8), nullable=False),
    sa.Column("mag_day", sa.Float(), nullable=True),
    sa.Column("mag_month", sa.Float(), nullable=True),
    sa.Column("volume_day", sa.BigInteger(), nullable=False),
    sa.Column("complaints_day", sa.Integer(), nullable=False),
    sa.Column("trap_hits_day", sa.Integer(), nullable=False),
    sa.Column("dns_queries_day", sa.BigInteger(), nullable=False),
    sa.Column("first_seen", sa.Date(), nullable=True),
    sa.Column("listed", sa.Boolean(), nullable=False),
    sa.Column("formula", sa.SmallInteger(), nullable=False),
    _one_of("kind", REP_KINDS, "kind"),
)

# One row per recompute; the newest id is the rep. zone's change marker.
rep_runs = sa.Table(
    "rep_runs", metadata,
    _pk(),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("first_day", sa.Date(), nullable=False),
    sa.Column("last_day", sa.Date(), nullable=False),
    sa.Column("scored", sa.Integer(), nullable=False),
    sa.Column("changed", sa.Integer(), nullable=False),
    sa.Column("full", sa.Boolean(), nullable=False),
)


# --- the domain blocklist (dbl.): domains advertised in reports, their listings and history ---
# `report_domains` is filled by the dbl scan from each report's trace (its URLs' registered
# domains); `domain_scan` holds the id of the last report scanned (one row).
report_domains = sa.Table(
    "report_domains", metadata,
    sa.Column("report_id", ID, sa.ForeignKey("reports.id"), primary_key=True, autoincrement=False),
    sa.Column("domain", sa.String(253), primary_key=True),
    sa.Index("ix_report_domains_domain", "domain"),
)

domain_scan = sa.Table(
    "domain_scan", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("last_report_id", ID, nullable=False),
)

domain_listings = sa.Table(
    "domain_listings", metadata,
    sa.Column("domain", sa.String(253), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("score", sa.Float(), nullable=False, server_default="0"),
    sa.Column("reporters", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("first_evidence", UTCDateTime(), nullable=True),
    sa.Column("last_evidence", UTCDateTime(), nullable=True),
    sa.Column("listed_since", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Index("ix_domain_listings_state_expires_at", "state", "expires_at"),
    _one_of("state", LISTING_STATES, "state"),
)

domain_events = sa.Table(
    "domain_events", metadata,
    _pk(),
    sa.Column("domain", sa.String(253), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("old_state", sa.String(16), nullable=False),
    sa.Column("new_state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("actor_role", sa.String(16), nullable=False),
    sa.Column("score", sa.Float(), nullable=False, server_default="0"),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Index("ix_domain_events_domain_id", "domain", "id"),
)


# --- abuse notification (services.notify) ---------------------------------------------------
# Networks are ranges: `family` and the first/last address as 32 hex digits (`store.notify.
# range_key`), so "the most specific network containing an IP" is an indexed range query.
NOTIFY_MODES = ("full", "digest", "none")
OUTBOX_STATES = ("pending", "digest", "sent", "bounced", "failed", "skipped")


def _range_columns() -> list[Any]:
    return [sa.Column("family", sa.SmallInteger(), nullable=False),
            sa.Column("start_key", sa.String(32), nullable=False),
            sa.Column("end_key", sa.String(32), nullable=False)]


# RDAP answers by network: abuse addresses (none: a negative answer), until `expires_at`.
abuse_contacts = sa.Table(
    "abuse_contacts", metadata,
    _pk(),
    *_range_columns(),
    sa.Column("network", sa.Text(), nullable=False),  # CIDRs, comma separated
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("handle", sa.String(200), nullable=False, server_default=""),
    sa.Column("registry", sa.String(64), nullable=False, server_default=""),
    sa.Column("server", sa.Text(), nullable=False, server_default=""),
    sa.Column("emails", sa.JSON(), nullable=False),
    sa.Column("fetched_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("family", "start_key", "end_key"),
)

# Operator overrides and network owners' wishes, by CIDR: the addresses to use (empty: the
# RDAP ones) and the mode (full reports, a daily digest, or none).
abuse_overrides = sa.Table(
    "abuse_overrides", metadata,
    _pk(),
    sa.Column("network", sa.String(64), nullable=False, unique=True),
    *_range_columns(),
    sa.Column("emails", sa.JSON(), nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_abuse_overrides_family_start_key_end_key", "family", "start_key", "end_key"),
    _one_of("mode", NOTIFY_MODES, "mode"),
)

# The durable outbox: one row per counted report (unique: idempotent by report id), written
# in the transaction that processes the report; the worker moves it to a final state.
notify_outbox = sa.Table(
    "notify_outbox", metadata,
    _pk(),
    sa.Column("report_id", ID, sa.ForeignKey("reports.id"), nullable=False, unique=True),
    sa.Column("source_ip", sa.String(45), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_at", UTCDateTime(), nullable=False),
    sa.Column("network", sa.Text(), nullable=True),
    sa.Column("recipients", sa.JSON(), nullable=True),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Index("ix_notify_outbox_state_next_at", "state", "next_at"),
    _one_of("state", OUTBOX_STATES, "state"),
)
