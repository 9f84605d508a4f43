"""The one mbox splitter (pure bytes)."""

from __future__ import annotations

import pytest

from mailrep.errors import TooBig
from mailrep.trace import mbox

M1 = b"Subject: one\n\nbody 1\n>From quoted\n"
M2 = b"Subject: two\n\nbody 2\n"
BOX = b"From a@x Mon Jan  1 00:00:00 2024\n" + M1 + b"\nFrom b@y Tue Jan  2 00:00:00 2024\n" + M2


def test_split_undoes_envelopes_and_quoting():
    assert mbox.split(BOX) == [M1.replace(b">From", b"From"), M2]


def test_not_an_mbox_is_one_message():
    assert mbox.split(M1) == [M1]


def test_split_lines_gives_offsets_and_count_agrees():
    lines = BOX.splitlines(keepends=True)
    got = list(mbox.split_lines(lines))
    assert [start for start, _ in got] == [0, BOX.index(b"From b@y")]
    assert mbox.count(lines) == 2


def test_escape_round_trips():
    raw = b"From a\n>From b\nxFrom c\n"
    assert mbox.escape(raw) == b">From a\n>>From b\nxFrom c\n"
    box = b"From x Thu Jan  1 00:00:00 1970\n" + mbox.escape(raw)
    assert mbox.split(box) == [raw]


def test_too_big():
    with pytest.raises(TooBig):
        list(mbox.split_lines(BOX.splitlines(keepends=True), max_message=10))


@pytest.mark.parametrize(
    ("data", "n"),
    [(b"Subject: x\n\nFrom here on\n", 1), (b"From a b\nSubject: x\n\nbody\nFrom me\n", 1),
     (b"From a Mon Oct 11 14:00:00 2010\nS: 1\n\nx\n\nFrom c Tue Oct 12 14:00:00 2010\nS: 2\n\ny\n", 2),
     (b"From a Mon Oct 11 14:00:00 2010\r\nS: 1\r\n\r\nx\r\n\r\nFrom MAILER-DAEMON  Fri Jul  8 12:08:34 2011\r\nS: 2\r\n\r\ny", 2),
     # unescaped body lines starting with From are not separators
     (b"From a Mon Oct 11 14:00:00 2010\nS: 1\n\nx\n\nFrom the desk of Mr Smith: hello\n\nFrom me Mon to you\nnot a header\n", 1),
     (b"", 1)],
)
def test_split_counts(data, n):
    assert len(mbox.split(data)) == n
    if data.startswith(b"From "):
        assert mbox.count(data.splitlines(keepends=True)) == n


def test_an_unescaped_from_line_stays_in_the_body():
    data = b"From a Mon Oct 11 14:00:00 2010\nS: 1\n\nx\n\nFrom the desk of Mr Smith\n"
    assert mbox.split(data) == [b"S: 1\n\nx\n\nFrom the desk of Mr Smith\n"]
