"""Use cases over the store and the pure policy; no SQL, no HTTP, no module-global state.

    blocklist   listing decisions: reevaluate, sweep, recompute, manual (staff)
    lookup      the public view of one address and its explanation
    delisting   delisting requests: request, get, find, decide
    accounts    accounts, reporters, tokens, authentication
    dbl         the domain blocklist: report URL domains -> domain listings, lookup
    publish     what each DNS zone holds, its change marker and serial
    reports     a reporter's own reports (the /reports page)
    stats       headline figures and the series of the /stats page
    bond        bonded senders: enrolment, deposits, debits, disputes, the allowlist
    reputation  sender reputation: DNS query counts, recompute, IP / network / domain views
    organisation  an enrolled sender as a reputation entity: its addresses and domains, one score
    notify      abuse notification: contacts (RDAP, cache, overrides), the outbox worker

Each is a class built with its dependencies; `mailrep.run.build_services` builds them all once
(the composition root) into a `Services`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailrep.policy.config import PolicyConfig
from mailrep.services.accounts import Accounts
from mailrep.services.blocklist import Blocklist
from mailrep.services.bond import Bond
from mailrep.services.dbl import DomainBlocklist
from mailrep.services.delisting import Delisting
from mailrep.services.lookup import Lookup
from mailrep.services.notify import AbuseContacts, Notifier
from mailrep.services.organisation import Organisations
from mailrep.services.publish import Publish
from mailrep.services.reports import Reports
from mailrep.services.reputation import Reputation
from mailrep.services.stats import Stats
from mailrep.store.db import Database


@dataclass(frozen=True, slots=True)
class Services:
    db: Database
    config: PolicyConfig
    blocklist: Blocklist
    lookup: Lookup
    delisting: Delisting
    accounts: Accounts
    publish: Publish
    reports: Reports
    stats: Stats
    bond: Bond
    reputation: Reputation
    dbl: DomainBlocklist
    notifier: Notifier | None = None

    @property
    def organisations(self) -> Organisations:
        return Organisations(self.reputation)


__all__ = ["AbuseContacts", "Accounts", "Blocklist", "Bond", "Delisting", "DomainBlocklist", "Lookup",
           "Notifier", "Organisations", "Publish", "Reports", "Reputation", "Services", "Stats"]
