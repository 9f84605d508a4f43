from __future__ import annotations

import pytest

from tests.peers import require_corpus


@pytest.fixture(scope="session")
def corpus():
    """Path of ../shared/corpus (third-party test data, never copied into the project)."""
    return require_corpus()
