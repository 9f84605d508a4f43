"""Third-party programs the integration tests drive (installed by scripts/install-peers).

A test that needs one calls `require("dig")`: without it the test skips with the reason,
except under CI=true, where a missing peer is a failure (CI must prove the integration).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """The shared third-party data: MAILREP_SHARED, else ../shared beside the checkout, else
    ../shared beside the checkout this one was cloned from (a clone made elsewhere, /tmp/x)."""
    if os.environ.get("MAILREP_SHARED"):
        return Path(os.environ["MAILREP_SHARED"])
    here = ROOT.parent / "shared"
    if here.is_dir():
        return here
    try:
        origin = subprocess.run(["git", "-C", str(ROOT), "config", "remote.origin.url"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return here
    beside_origin = Path(origin).parent / "shared" if origin.startswith("/") else None
    return beside_origin if beside_origin is not None and beside_origin.is_dir() else here


SHARED = _shared()
CORPUS = SHARED / "corpus"
SA_RELAYS = SHARED / "tools" / "sa-relays"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(program: str) -> str:
    """Path of `program`, or skip (fail under CI) when it is not installed."""
    found = shutil.which(program) or next(
        (str(p) for p in (Path("/usr/sbin") / program, Path("/usr/bin") / program) if p.exists()), None
    )
    if found:
        return found
    reason = f"{program} is not installed (run scripts/install-peers)"
    if IN_CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def require_corpus() -> Path:
    if CORPUS.is_dir():
        return CORPUS
    reason = f"test corpus not found at {CORPUS}"
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)
