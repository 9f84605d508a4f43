"""Settings: defaults, overridden by a TOML file, overridden by MAILREP_* environment variables.

    data_dir       MAILREP_DATA_DIR      ./var
    database_url   MAILREP_DATABASE_URL  sqlite:///<data_dir>/mailrep.sqlite3
    config file    MAILREP_CONFIG        <data_dir>/mailrep.toml (optional)
    site_url       MAILREP_SITE_URL      `mailrep serve`: http://<--http address>; else http://127.0.0.1:8080
    zone_base      MAILREP_ZONE_BASE     mailrep.test

`site_url` is the link in every DNS TXT answer and in receipts; when neither the environment
nor the file sets it, `mailrep serve` derives it from the address its web door is bound to
(`Settings.serving`). docs/mailrep.example.toml lists every table and key with its default.

Each subsystem reads its own TOML table (`[policy]`, `[dns]`, `[intake]`, ...) through
`Settings.section(name)` and turns it into its own typed config, so the pure cores never
read files or the environment themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mailrep.errors import BadInput


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./var")
    database_url: str = ""
    site_url: str = "http://127.0.0.1:8080"
    zone_base: str = "mailrep.test"
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    site_url_set: bool = False  # site_url came from the environment or the file

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mailrep.sqlite3').resolve()}"

    def section(self, name: str) -> Mapping[str, Any]:
        return self.sections.get(name, {})

    def serving(self, host: str, port: int) -> Settings:
        """These settings for a service whose web door is bound to `host:port`: unless set,
        site_url is that address."""
        if self.site_url_set:
            return self
        return replace(self, site_url=f"http://{f'[{host}]' if ':' in host else host}:{port}")


def load_settings(
    *, data_dir: str | Path | None = None, config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    env = os.environ if environ is None else environ
    ddir = Path(data_dir or env.get("MAILREP_DATA_DIR") or "./var")
    cfg_path = Path(config_file or env.get("MAILREP_CONFIG") or ddir / "mailrep.toml")
    data: dict[str, Any] = {}
    if cfg_path.is_file():
        import tomllib  # only with a config file: 25 ms of every `mailrep trace` start-up

        try:
            data = tomllib.loads(cfg_path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise BadInput(f"config file {cfg_path}: {e}") from e
    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in data.items() if isinstance(v, dict)}
    site_url = env.get("MAILREP_SITE_URL") or top.get("site_url")
    return Settings(
        data_dir=ddir,
        database_url=env.get("MAILREP_DATABASE_URL") or top.get("database_url", ""),
        site_url=site_url or Settings.site_url, site_url_set=bool(site_url),
        zone_base=env.get("MAILREP_ZONE_BASE") or top.get("zone_base", Settings.zone_base),
        sections=sections,
    )
