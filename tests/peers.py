"""Third-party programs the integration tests drive (installed by scripts/install-peers).

A test that needs one calls `require("dig")`: without it the test skips with the reason,
except under CI=true, where a missing peer is a failure (CI must prove the integration).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The shared third-party data sits beside the checkout (../shared); MAILREP_SHARED points
# elsewhere, e.g. for a clone made outside the workspace.
SHARED = Path(os.environ.get("MAILREP_SHARED") or ROOT.parent / "shared")
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
