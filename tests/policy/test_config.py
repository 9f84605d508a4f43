from __future__ import annotations

import ipaddress

import pytest

from mailrep.config import load_settings
from mailrep.errors import BadInput
from mailrep.policy.config import PolicyConfig


def test_defaults_are_the_brief():
    c = PolicyConfig()
    assert (c.fresh_weight, c.fresh_hours, c.max_age_days) == (4.0, 48.0, 7.0)
    assert (c.trap_weight, c.trap_square_from, c.min_reporters) == (5.0, 6, 2)
    assert (c.expiry_hours, c.short_listing_reports, c.short_listing_hours) == (24.0, 2, 12.0)


def test_from_settings_section(tmp_path):
    (tmp_path / "mailrep.toml").write_text(
        '[policy]\nexpiry_hours = 48\ntrap_square_from = 4\nexemptions = ["45.33.0.0/16"]\n')
    c = PolicyConfig.from_section(load_settings(data_dir=tmp_path, environ={}).section("policy"))
    assert c.expiry_hours == 48.0 and c.trap_square_from == 4
    assert c.exemptions == (ipaddress.ip_network("45.33.0.0/16"),)
    assert c.to_dict()["exemptions"] == ["45.33.0.0/16"]


@pytest.mark.parametrize(
    "section",
    [
        {"expiry_hour": 3},  # typo
        {"min_reporters": 1},  # one reporter could list alone
        {"fresh_weight": 0.5},
        {"trap_square_from": 2.5},
        {"expiry_hours": "24"},
        {"short_listing_hours": 30},  # longer than the expiry
        {"exemptions": ["not-a-net"]},
        {"base_threshold": 0},
    ],
)
def test_bad_sections(section):
    with pytest.raises(BadInput):
        PolicyConfig.from_section(section)
