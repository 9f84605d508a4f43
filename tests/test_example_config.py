"""docs/mailrep.example.toml (issue 13, defect 13): it loads with `load_settings`, every table
parses into its typed config with the defaults it claims, and it names every key the code reads."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from mailrep.config import Settings, load_settings
from mailrep.dns.node import NodeConfig, node_config
from mailrep.intake.addresses import SmtpConfig
from mailrep.intake.limits import IntakeLimits
from mailrep.policy.bond import BondConfig
from mailrep.policy.config import PolicyConfig
from mailrep.policy.domains import DomainConfig
from mailrep.policy.reputation import RepConfig
from mailrep.policyd.verdict import PolicydConfig
from mailrep.services.notify import NotifyConfig
from mailrep.trace.trust import TrustConfig
from mailrep.web.config import WebConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "mailrep.example.toml"
# IntakeLimits fields whose key in [intake] carries a unit
INTAKE_KEYS = {"max_age": "max_age_hours", "batch_wait": "batch_wait_ms"}


def test_example_parses_into_every_typed_config_with_its_defaults(tmp_path):
    s = load_settings(data_dir=tmp_path, config_file=EXAMPLE, environ={})
    assert set(s.sections) == {"policy", "trace", "intake", "smtp", "dns", "dbl", "policyd", "web", "bond",
                               "reputation",
                               "notify"}
    assert s.zone_base == Settings.zone_base and s.database_url == "" and not s.site_url_set
    assert PolicyConfig.from_section(s.section("policy")) == PolicyConfig()
    assert IntakeLimits.from_section(s.section("intake")) == IntakeLimits()
    assert SmtpConfig.from_section(s.section("smtp"), default_domain=s.zone_base) == \
        SmtpConfig.from_section({}, default_domain=s.zone_base)
    assert node_config(s.section("dns")) == NodeConfig()
    assert set(s.section("dns")) <= {f.name for f in fields(NodeConfig)}
    assert TrustConfig.from_section(dict(s.section("trace"))) == TrustConfig.from_section({})
    assert DomainConfig.from_section(s.section("dbl")) == DomainConfig()
    assert PolicydConfig.from_section(s.section("policyd"), site_url=s.site_url) == \
        PolicydConfig(site_url=s.site_url)
    assert WebConfig.from_section(s.section("web")) == WebConfig.from_section({})
    assert BondConfig.from_section(s.section("bond")) == BondConfig()
    assert RepConfig.from_section(s.section("reputation")) == RepConfig()
    assert NotifyConfig.from_section(s.section("notify")) == NotifyConfig.from_section({})


def test_example_names_every_key_the_code_reads():
    text = EXAMPLE.read_text()
    tables = {m.group(1): m.start() for m in re.finditer(r"^\[(\w+)\]", text, re.M)}

    def keys(table: str) -> set[str]:
        start = tables[table]
        end = min([p for p in tables.values() if p > start], default=len(text))
        return set(re.findall(r"^#? ?(\w+) =", text[start:end], re.M))

    assert {f.name for f in fields(PolicyConfig)} <= keys("policy")
    assert {INTAKE_KEYS.get(f.name, f.name) for f in fields(IntakeLimits)} <= keys("intake")
    assert {f.name for f in fields(SmtpConfig)} <= keys("smtp")
    assert {f.name for f in fields(NodeConfig)} <= keys("dns")
    assert {f.name for f in fields(PolicydConfig)} - {"site_url"} <= keys("policyd")
    assert {f.name for f in fields(WebConfig)} <= keys("web")
    assert {f.name for f in fields(BondConfig)} <= keys("bond")
    assert {f.name for f in fields(RepConfig)} <= keys("reputation")
    assert {"exemptions", "bundled_exemptions", "min_reporters", "base_threshold"} <= keys("dbl")
    assert {"mailhosts", "trusted_networks", "internal_networks", "msa_networks", "trusted_received",
            "originating_headers"} <= keys("trace")
    assert keys("notify") >= NotifyConfig.KEYS
    top = set(re.findall(r"^#? ?(\w+) =", text[:min(tables.values())], re.M))
    assert {"database_url", "site_url", "zone_base"} <= top
