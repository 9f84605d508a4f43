"""Response models of the public JSON (lookup, explain, staff actions): every field explained in
the OpenAPI schema. The services build the values; these models only describe them, and let
fields they do not name pass through unchanged (`extra="allow"`), so a service that adds a
field does not lose it here (describe it here too)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ISO = "ISO 8601, UTC"
KINDS = ("the reporter's kind (SpamCop's statistics): `user` (a registered reporter, named to "
         "staff), `mole` (a registered reporter who reports anonymously), `simp` (a report without a "
         "registered reporter, trust 1)")


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class EvidenceCounts(Model):
    trap: int = Field(description="spamtrap hits about the address inside the policy window")
    user: int = Field(description="reports from registered reporters inside the window")
    mole: int = Field(description="reports from registered reporters who report anonymously (SpamCop's "
                                  "`mole`) inside the window")
    simp: int = Field(description="reports without a registered reporter (SpamCop's `simp`, unregistered), "
                                  "each with trust 1")
    last_seen: str | None = Field(description=f"the newest evidence ({ISO}); null when there is none")


class HistoryEntry(Model):
    at: str | None = Field(description=f"when the state changed ({ISO})")
    from_: str = Field(alias="from", description="the state before: listed, unlisted, delisted, exempt")
    to: str = Field(description="the state after")
    reason: str = Field(description="why: the policy's summary, or the staff member's reason")
    by: str | None = Field(description="who changed it: `policy`, or the staff role (`deputy`, `admin`)")
    score: float = Field(description="the score at the change")
    expires: str | None = Field(description=f"when the listing was due to expire ({ISO})")


class EvidenceItem(Model):
    kind: str = Field(description="`report` or `trap` (a spamtrap hit; trap addresses are never shown)")
    at: str | None = Field(description=f"when it arrived ({ISO})")
    age_hours: float = Field(description="its age in hours at `at` of the explanation")
    counted: bool = Field(description="whether it counts toward the score")
    note: str = Field(description="why it does not count, when it does not")
    reporter: str | None = Field(None, description="the reporter as a pseudonym: `R1`, `R2`, ... in order of "
                                 "their first report about this address (independence is visible, not "
                                 "identity), or `anonymous`")
    reporter_kind: str | None = Field(None, description=KINDS)
    freshness: float | None = Field(None, description="the age factor: 4x when new, falling to 1x at 48 h, "
                                    "0 after 7 days (see `freshness_rule`)")
    trust: float | None = Field(None, description="the reporter's trust weight")
    weight: float | None = Field(None, description="freshness x trust: what the report adds")


class Explanation(Model):
    key: str = Field(description="the address or network decided")
    at: str | None = Field(description=f"when this was calculated ({ISO})")
    state: str = Field(description="the decided state: listed, unlisted, delisted, exempt")
    listed: bool = Field(description="listed at `at`")
    manual: bool = Field(description="the state was set by staff")
    never_listed: str | None = Field(description="why the address can never be listed (reserved, private, "
                                     "documentation ranges, operator exemptions); null otherwise")
    evidence: list[EvidenceItem] = Field(description="the newest evidence items, newest first")
    evidence_total: int = Field(description="how many evidence items there are in all")
    reports: int = Field(description="reports counted")
    reporters: int = Field(description="distinct reporters among them")
    traps: int = Field(description="spamtrap hits counted")
    report_term: float = Field(description="what the reports add to the score (each reporter's heaviest reports)")
    trap_term: float = Field(description="what the trap hits add (see `trap_rule`)")
    trap_rule: str = Field(description="how trap hits are weighed")
    score: float = Field(description="report_term + trap_term")
    volume: int | float | None = Field(description="messages seen from the address in the week (volume "
                                       "telemetry and query counts); null or 0 when unknown")
    volume_term: float = Field(description="what the volume adds to the threshold")
    threshold: float = Field(description="the score needed to list (see `threshold_rule`)")
    threshold_rule: str = Field(description="the threshold as a formula of the volume")
    freshness_rule: str = Field(description="how a report's weight falls with its age")
    independent: bool = Field(description="the evidence is independent: a trap hit or at least two reporters")
    expires: str | None = Field(description=f"when the listing expires without new evidence ({ISO})")
    expiry_rule: str = Field(description="how the expiry is set")
    qualifies: bool = Field(description="the evidence alone is enough to list")
    why: list[str] = Field(description="the outcome in sentences")


class PublicEvidenceItem(Model):
    kind: str = Field(description="`trap` (a spamtrap hit; trap addresses are never shown) or the kind of "
                                  "reporter of a report: " + KINDS)
    age_hours: int = Field(description="the age of these items in whole hours at `at` of the explanation")
    count: int = Field(description="how many items of this kind and age")
    counted: bool = Field(description="whether they count toward the score")
    note: str = Field(description="why they do not count, when they do not")


class PublicExplanation(Explanation):
    """The calculation as the public sees it: per-report detail (exact times, reporter
    pseudonyms, trust, weights) is for deputies (`GET /api/v1/explain/{ip}`)."""

    evidence: list[PublicEvidenceItem] = Field(  # type: ignore[assignment]
        description="the newest evidence, counted by kind and age in whole hours")


class LookupView(Model):
    ip: str = Field(description="the address looked up, canonical (`::ffff:a.b.c.d` is shown as a.b.c.d)")
    listed: bool = Field(description="whether the DNS zone lists it now (itself or a network covering it)")
    state: str = Field(description="listed, unlisted, delisted (by staff; only new evidence lists it again) "
                                   "or exempt (never listed)")
    listing: str | None = Field(description="the key that lists it: the address, or a network covering it")
    since: str | None = Field(description=f"listed since ({ISO}); null when not listed")
    expires: str | None = Field(description=f"when the listing expires without new evidence ({ISO})")
    score: float = Field(description="the policy's score for the current evidence")
    evidence: EvidenceCounts = Field(description="the evidence inside the policy window, counted by kind")
    history: list[HistoryEntry] = Field(description="every state change, newest first")
    reason: str | None = Field(None, description="the staff reason of the listing in force, if any")
    covered_by: dict[str, Any] | None = Field(None, description="the listed network covering the address "
                                              "(its key, reason and history), when that is what lists it")
    pending: dict[str, Any] | None = Field(None, description="new evidence not evaluated yet (it will be "
                                           "within seconds) or a re-evaluation due, with the state it "
                                           "would give; null when the state is current")
    explanation: PublicExplanation = Field(description="the policy's calculation for the current evidence")


class ListingView(Model):
    key: str = Field(description="the address or network acted on (canonical)")
    state: str = Field(description="its state now: listed, unlisted, delisted, exempt")
    listed: bool = Field(description="listed now")
    manual: bool = Field(description="the state was set by staff")
    since: str | None = Field(description=f"listed since ({ISO})")
    expires: str | None = Field(description=f"when the listing expires ({ISO})")
    reason: str = Field(description="the reason given")

