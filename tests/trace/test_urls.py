"""URL extraction: obfuscations, normalisation, hosts, registered domains, MIME encodings."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.trace.message import Flag, read_message
from mailrep.trace.urls import Url, extract_urls, registered_domain, urls_in_text
from tests.peers import require


def urls(text: str) -> list[str]:
    return [u.url for u in urls_in_text(text)]


# (text, expected normalised URLs in order)
TEXT_CASES = [
    ("visit http://www.Example.COM/Path?q=1 now", ["http://www.example.com/Path?q=1"]),
    ("no path http://example.com", ["http://example.com/"]),
    ("https://shop.example.co.uk/buy.", ["https://shop.example.co.uk/buy"]),
    ("http://www.sulaco.co.za/d.htm", ["http://www.sulaco.co.za/d.htm"]),  # `za` is in the PSL only via co.za...
    ("(see http://example.org/a_(b))", ["http://example.org/a_(b)"]),
    ("(see http://example.org/page)", ["http://example.org/page"]),
    ("<http://example.net/x>", ["http://example.net/x"]),
    ('"http://example.net/q"', ["http://example.net/q"]),
    ("Go to www.cheap-pills.biz!", ["http://www.cheap-pills.biz/"]),
    ("WWW.EXAMPLE.COM/offer", ["http://www.example.com/offer"]),
    ("www2.example.com", ["http://www2.example.com/"]),
    ("hxxp://evil.example.com/x", ["http://evil.example.com/x"]),
    ("hXXps://evil.example.com/", ["https://evil.example.com/"]),
    ("h**p://evil.example.com/", ["http://evil.example.com/"]),
    ("hxxp://evil[.]example[.]com/login", ["http://evil.example.com/login"]),
    ("http://evil(.)example(.)com", ["http://evil.example.com/"]),
    ("http://evil{.}example{.}com", ["http://evil.example.com/"]),
    ("www[.]bad[.]com", ["http://www.bad.com/"]),
    ("http://bad [dot] com/x", ["http://bad.com/x"]),
    ("http://bad(dot)com/x", ["http://bad.com/x"]),
    ("hxxp[:]//bad.com/x", ["http://bad.com/x"]),
    ("fxp://files.example.com/a", ["ftp://files.example.com/a"]),
    ("http:\\\\example.com\\a\\b", ["http://example.com/a/b"]),
    ("http://user:pw@example.com:8080/x", ["http://example.com:8080/x"]),
    ("http://example.com:80/x https://example.com:443/y", ["http://example.com/x", "https://example.com/y"]),
    ("http://example.com/a#frag", ["http://example.com/a"]),
    ("http://example.com./trailing-dot", ["http://example.com/trailing-dot"]),
    ("http://example.com?x=1", ["http://example.com/?x=1"]),
    # IDN hosts become punycode
    ("http://bücher.example.com/", ["http://xn--bcher-kva.example.com/"]),
    ("http://пример.рф/путь", ["http://xn--e1afmkfd.xn--p1ai/путь"]),
    ("http://example。com/", ["http://example.com/"]),
    # IP literals
    ("http://192.0.2.1/x", ["http://192.0.2.1/x"]),
    ("http://[2001:DB8::1]:8080/x", ["http://[2001:db8::1]:8080/x"]),
    ("http://3221225985/x", ["http://192.0.2.1/x"]),
    ("http://0xC0000201/", ["http://192.0.2.1/"]),
    # garbage hosts are rejected
    ("http://localhost/x", []),
    ("http://foo.notatld/x", []),
    ("http://a..b.com/", []),
    ("http://-bad.com/", []),
    ("http://bad-.com/", []),
    ("http://300.1.2.3/", []),
    ("http://[zz::1]/", []),
    ("http://example.com:99999/", []),
    ("http://example.com:abc/", []),
    ("http:///nohost", []),
    ("http://http://192.0.2.9/x", ["http://192.0.2.9/x"]),  # doubled scheme
    ("http://" + "a" * 64 + ".com/", []),
    ("mailto:someone@example.com", []),
    ("email me at info@www.example.com", []),
    ("the file www.txt", []),
    # percent-encoded hosts and the userinfo trick behind them
    ("http://w%77%77%2e%74%65%72%72%61%2ee%73/x", ["http://www.terra.es/x"]),
    ("http://www.Remove_Me.com%40w%77%77%2E%74erra%2Ee%73/p", ["http://www.terra.es/p"]),
    # redirectors: the URL in the query is reported too, right after its carrier
    ("http://r.example.net/c?u=http://evil.example.org/x&b=1",
     ["http://r.example.net/c?u=http://evil.example.org/x&b=1", "http://evil.example.org/x"]),
    ("https://r.example.net/c?t=https%3A%2F%2Fbad.example.org%2Fp",
     ["https://r.example.net/c?t=https%3A%2F%2Fbad.example.org%2Fp", "https://bad.example.org/p"]),
    # bare domains under the common generic TLDs, outside URLs and e-mail addresses
    ("Visit SendGreatOffers.com today", ["http://sendgreatoffers.com/"]),
    ("shop at deals.example.com.au/sale.", ["http://deals.example.com.au/sale"]),
    ("a.com, then http://b.net/?site=c.org and d.info", ["http://a.com/", "http://b.net/?site=c.org", "http://d.info/"]),
    ("write to sales@example.com", []),
    ("readme.md setup.py notes.txt bar.co.uk", []),
    ("foo.comx example.com-bar", []),
    ("news.com.com/x and mail.com.evil.ru", ["http://news.com.com/x"]),
    ("a" * 300 + ".com " + ".com" * 500, []),
    # order and repeats are kept by urls_in_text (extract_urls dedupes)
    ("http://b.com/ http://a.com/ http://b.com/", ["http://b.com/", "http://a.com/", "http://b.com/"]),
]


@pytest.mark.parametrize(("text", "expected"), TEXT_CASES, ids=[c[0][:40] for c in TEXT_CASES])
def test_urls_in_text(text, expected):
    assert urls(text) == expected


DOMAIN_CASES = [
    ("www.example.com", "example.com"),
    ("a.b.c.example.co.uk", "example.co.uk"),
    ("example.co.uk", "example.co.uk"),
    ("co.uk", ""),
    ("com", ""),
    ("EXAMPLE.COM.", "example.com"),
    ("evil.github.io", "evil.github.io"),  # private PSL section: a user site is its own domain
    ("s3.amazonaws.com", "amazonaws.com"),  # a host that is itself a private suffix
    ("xn--bcher-kva.example.com", "example.com"),
    ("shop.xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"),
    ("shop.пример.рф", "xn--e1afmkfd.xn--p1ai"),  # unicode in, punycode out, like Url.host
    ("bad..label\u0000.рф", ""),
    ("192.0.2.1", ""),
    ("2001:db8::1", ""),
    ("foo.notatld", ""),
    ("", ""),
]


@pytest.mark.parametrize(("host", "expected"), DOMAIN_CASES)
def test_registered_domain(host, expected):
    assert registered_domain(host) == expected


def test_url_fields_and_to_dict():
    (u,) = urls_in_text("hxxp://Login.Bücher.example.co.uk[.]/x")
    assert u == Url("http://login.xn--bcher-kva.example.co.uk/x", "login.xn--bcher-kva.example.co.uk", "example.co.uk")
    assert u.to_dict() == {"url": u.url, "host": u.host, "domain": "example.co.uk"}
    (ip,) = urls_in_text("http://[2001:db8::2]/")
    assert (ip.host, ip.domain) == ("2001:db8::2", "")


def _mail(body: bytes, ctype: str = "text/plain", cte: str | None = None, extra: str = "") -> bytes:
    head = f"From: a@example.com\nSubject: t\nMIME-Version: 1.0\nContent-Type: {ctype}\n"
    if cte:
        head += f"Content-Transfer-Encoding: {cte}\n"
    return head.encode() + extra.encode() + b"\n" + body


def test_quoted_printable_soft_breaks_and_escapes():
    body = b"Click http://www.exa=\nmple.com/p=3D1&amp=3Bq now\n"
    msg = read_message(_mail(body, "text/plain; charset=us-ascii", "quoted-printable"))
    assert [u.url for u in extract_urls(msg)] == ["http://www.example.com/p=1&amp;q"]


def test_base64_html_with_entities_and_attributes():
    html = '<a href="http://track.example.net/c?a=1&amp;b=2">x</a><img src=\'https://img.example.org/p.gif\'>' \
        '<a href=www.bare-attr.com>y</a> text hxxp://obf[.]example.com'
    body = base64.encodebytes(html.encode())
    msg = read_message(_mail(body, 'text/html; charset="utf-8"', "base64"))
    assert [u.url for u in extract_urls(msg)] == [
        "http://track.example.net/c?a=1&b=2",
        "https://img.example.org/p.gif",
        "http://www.bare-attr.com/",
        "http://obf.example.com/",
    ]


def test_html_labelled_as_plain_text_gets_entities_decoded():
    body = b'<html><a href="http://x.example.com/?a=1&amp;b=2">go</a> &lt;http://y.example.com/&gt;</html>'
    got = [u.url for u in extract_urls(read_message(_mail(body)))]
    assert got == ["http://x.example.com/?a=1&b=2", "http://y.example.com/"]
    # real plain text keeps its ampersands as written
    body = b"see http://z.example.com/?a=1&amp;b=2"
    assert [u.url for u in extract_urls(read_message(_mail(body)))] == ["http://z.example.com/?a=1&amp;b=2"]


@pytest.mark.parametrize("charset", ["utf-16", "koi8-r", "iso-2022-jp", "utf-7", "windows-1251"])
def test_charsets(charset):
    text = "Смотри http://пример.рф/ и http://example.com/ok"
    if charset == "iso-2022-jp":
        text = "見て http://例え.jp/ と http://example.com/ok"
    body = base64.encodebytes(text.encode(charset))
    msg = read_message(_mail(body, f"text/plain; charset={charset}", "base64"))
    got = extract_urls(msg)
    assert got[-1].url == "http://example.com/ok"
    assert got[0].host.startswith("xn--")


def test_unknown_and_broken_charsets_still_yield_urls():
    body = "caf\xe9 http://example.com/a\n".encode("latin-1")
    for cs in ("x-unknown", "no-such-charset", "utf-8", "zlib", '"'):
        msg = read_message(_mail(body, f"text/plain; charset={cs}"))
        assert [u.url for u in extract_urls(msg)] == ["http://example.com/a"], cs


def test_multipart_alternative_dedupes_in_order_and_skips_attachments():
    raw = (
        b"From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"OUT\"\n\n"
        b"preamble http://preamble.example.com/\n--OUT\nContent-Type: multipart/alternative; boundary=IN\n\n"
        b"--IN\nContent-Type: text/plain\n\nhttp://one.example.com/ http://two.example.com/\n"
        b"--IN\nContent-Type: text/html\n\n<a href=\"http://two.example.com/\">http://one.example.com/</a>"
        b"<a href=\"http://three.example.com/\">3</a>\n--IN--\n"
        b"--OUT\nContent-Type: application/octet-stream\n\nhttp://binary.example.com/\n"
        b"--OUT\nContent-Type: message/rfc822\n\nFrom: x@example.com\nSubject: inner\n\nhttp://inner.example.com/\n"
        b"--OUT--\nepilogue http://epilogue.example.com/\n"
    )
    got = [u.host for u in extract_urls(read_message(raw))]
    assert got == ["one.example.com", "two.example.com", "three.example.com", "inner.example.com"]


def test_subject_is_read_first():
    raw = b"Subject: =?utf-8?q?see_hxxp://subj[.]example.com/?=\nContent-Type: text/plain\n\nhttp://body.example.com/\n"
    assert [u.host for u in extract_urls(read_message(raw))] == ["subj.example.com", "body.example.com"]


def test_limit():
    body = " ".join(f"http://h{i}.example.com/" for i in range(50)).encode()
    msg = read_message(_mail(body))
    assert len(extract_urls(msg, limit=7)) == 7
    assert [u.host for u in extract_urls(msg, limit=7)] == [f"h{i}.example.com" for i in range(7)]
    assert len(extract_urls(msg)) == 50


def test_candidate_and_text_caps_bound_the_work():
    body = (" ".join(f"http://h{i}.nosuchtld/" for i in range(100)) + " http://real.example.com/").encode()
    msg = read_message(_mail(body))
    assert [u.host for u in extract_urls(msg)] == ["real.example.com"]
    flags: list[Flag] = []
    assert extract_urls(msg, max_candidates=100, flags=flags) == []  # garbage used up the budget
    assert [f.code for f in flags] == ["urls_cut"]
    flags = []
    assert extract_urls(msg, max_text=100, flags=flags) == []  # the real URL lies beyond the text cap
    assert [f.code for f in flags] == ["mime_text_cut"]


def test_an_internal_error_is_flagged_not_raised(monkeypatch):
    import mailrep.trace.urls as urls_module

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(urls_module, "normalise", broken)
    flags: list[Flag] = []
    msg = read_message(_mail(b"http://example.com/"))
    assert extract_urls(msg, flags=flags) == []
    assert [f.code for f in flags] == ["urls_error"] and "boom" in flags[0].detail


def test_corpus_messages_give_sane_urls(corpus):
    files = sorted(p for p in (corpus / "messages" / "spam").iterdir())[:200]
    total = 0
    for path in files:
        for u in extract_urls(read_message(path.read_bytes())):
            total += 1
            assert u.url.startswith(("http://", "https://", "ftp://")), u
            assert u.host == u.host.lower() and u.host.isascii(), u
            assert u.domain == "" or u.host == u.domain or u.host.endswith("." + u.domain), u
    assert total > 500


SA_URIS = r"""
use strict; use warnings;
use Mail::SpamAssassin;
binmode STDOUT, ':utf8';
my $sa = Mail::SpamAssassin->new({dont_copy_prefs => 1, local_tests_only => 1,
  userprefs_filename => '/dev/null', site_rules_filename => '/dev/null'});
$sa->init(1);
for my $f (@ARGV) {
  open my $fh, '<', $f or next; local $/; my $raw = <$fh>; close $fh;
  my $msg = $sa->parse($raw); my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $msg);
  my $d = $pms->get_uri_detail_list();
  for my $u (keys %$d) {
    my $t = join(',', sort keys %{$d->{$u}{types} || {}});
    for my $h (keys %{$d->{$u}{hosts} || {}}) { (my $uu = $u) =~ s/\s+/ /g; print "$f\t$uu\t$h\t$t\n"; }
  }
  $pms->finish; $msg->finish;
}
"""

# SpamAssassin's mistakes on this sample, each checked by hand:
SA_WRONG = {
    # "http://http://32.97.166.75/...": it makes host "http" into www.http.com (we read 32.97.166.75)
    ("sa-spam-1_00463.45bff4629688e8031231a8b64a4eef06.eml", "www.http.com"),
    # "http://www.dcc-" broken across a line ("servers.net" follows): it makes www.dcc.com
    ("sa-easy-ham-1_00101.216942b87258b063ec2d7b7981ee2454.eml", "www.dcc.com"),
}


@pytest.mark.peer
def test_agrees_with_spamassassin_on_linked_hosts(corpus, tmp_path):
    """Every host SpamAssassin (the installed 4.x) finds in a URL with a scheme, we find too.
    (Its schemeless guesses are not compared: they read `reply.you` or `setup.py` as hosts.)"""
    require("spamassassin")
    paths = sorted((corpus / "messages" / "spam").iterdir())[:500:5] + sorted((corpus / "messages" / "ham").iterdir())[:300:5]
    paths += [p for p in (corpus / "messages" / "spam").iterdir() if p.name.startswith("sa-spam-1_00463.")]
    paths += [p for p in (corpus / "messages" / "ham").iterdir() if p.name.startswith("sa-easy-ham-1_00101.")]
    script = tmp_path / "uris.pl"
    script.write_text(SA_URIS)
    out = subprocess.run(["perl", str(script), *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    theirs: dict[str, set[str]] = {}
    for line in out.stdout.splitlines():
        path, uri, host, types = [*line.split("\t"), "", "", "", ""][:4]
        if "schemeless" in types or not uri.lower().startswith(("http:", "https:", "ftp:")):
            continue
        theirs.setdefault(path, set()).add(host.lower())
    assert sum(map(len, theirs.values())) > 200
    missed = set()
    for path in paths:
        ours = {u.host for u in extract_urls(read_message(path.read_bytes()))}
        missed |= {(path.name, h) for h in theirs.get(str(path), set()) - ours}
    assert missed == SA_WRONG


def test_no_network_is_used(monkeypatch):
    """The PSL comes from the snapshot inside the tldextract package (read as data, the
    package itself not imported): with every socket refused, a fresh interpreter still
    resolves registered domains."""
    code = (
        "import sys\n"
        "seen = []\n"
        "def hook(event, args):\n"
        "    if event in ('socket.connect', 'socket.getaddrinfo', 'socket.gethostbyname', 'socket.sendto',\n"
        "                 'urllib.Request', 'http.client.connect'):\n"
        "        seen.append(event)\n"
        "        raise OSError('network used: ' + event)\n"
        "sys.addaudithook(hook)\n"
        "from mailrep.trace.urls import registered_domain\n"
        "assert registered_domain('www.example.co.uk') == 'example.co.uk'\n"
        "assert registered_domain('x.y.blogspot.com') == 'y.blogspot.com'\n"
        "assert 'tldextract' not in sys.modules and 'requests' not in sys.modules\n"
        "assert seen == [], seen\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "XDG_CACHE_HOME": "/nonexistent"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    # and in this process too, with sockets refused
    def refuse(*args, **kwargs):
        raise OSError("network used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    registered_domain.cache_clear()
    assert registered_domain("a.b.example.com.au") == "example.com.au"


URLISH = st.text(alphabet=st.sampled_from(list("htpsx:/[]().w{}*@-_#?=&%0123456789abc.éü。 \n<>\"'\\dot")), max_size=200)


@settings(max_examples=300, deadline=None)
@given(URLISH)
def test_urls_in_text_never_raises_and_gives_valid_hosts(text):
    for u in urls_in_text(text):
        assert u.url.startswith(("http://", "https://", "ftp://"))
        assert u.host and u.host.isascii()


HOSTISH = st.lists(st.sampled_from(["www", "Example", "co", "uk", "com", "xn--bcher-kva", "bücher", "a-b", "192", "0",
                                     "net", "org", "-x", "_y", ""]), min_size=1, max_size=5).map(".".join)
PATHISH = st.text(alphabet=st.sampled_from(list("/?&=#%.,;:!()[]{}'*|~abc019 ")), max_size=20)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["http://", "https://", "hxxp://", "ftp://", "www.", ""]), HOSTISH, PATHISH)
def test_normalised_urls_are_fixed_points(prefix, host, path):
    """Whatever is extracted reads back as itself: normalisation is idempotent."""
    for u in urls_in_text(prefix + host + path):
        (again, *_) = urls_in_text(u.url)
        assert again == u


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["text/plain", "text/html", "multipart/mixed; boundary=b"]),
       st.sampled_from([None, "base64", "quoted-printable", "x-uue"]))
def test_extract_urls_never_raises(body, ctype, cte):
    raw = _mail(b"--b\nContent-Type: text/html\n\n" + body + b"\n--b--\n" if "multipart" in ctype else body, ctype, cte)
    assert isinstance(extract_urls(read_message(raw)), list)


def test_pathological_inputs_complete():
    """Inputs built to make a backtracking regex explode; pytest-timeout guards the run
    (the time taken is measured in the report, not asserted here)."""
    nasty = [
        "http://" + "a." * 5000,
        "www." * 5000,
        "h" * 20000 + "ttp://",
        "http://" + ")" * 3000,
        "[.]" * 5000 + "http://x.com",
        "http://" + "a" * 10000 + ".com/" + "(" * 3000,
        "hxxp[:]//" * 3000,
    ]
    for text in nasty:
        assert isinstance(urls_in_text(text), list)



_URL_BITS = st.sampled_from([*"hHtTpPsSxXfFwW*:/\\.@-_ 09\u017f\u0130\u212a<a=\"\u00e9\u201c",
                             "http://", "HTTPS://", "www.", "WwW1.", "hxxp:\\\\", "h**ps://", "fxp://"])


@given(st.lists(_URL_BITS, max_size=40).map("".join))
@settings(max_examples=400, deadline=None)
def test_fast_candidate_scan_finds_exactly_what_the_pattern_finds(text):
    import mailrep.trace.urls as urls_module

    def spans(ms):
        return [(m.span(), m.group("scheme"), m.group("www"), m.group("rest")) for m in ms]

    fast = urls_module._candidates(text, urls_module._folded(text))
    assert spans(fast) == spans(urls_module._CANDIDATE.finditer(text))


@given(st.lists(st.sampled_from([*"[](){}.:dDoOtT x\u00e9\u0130\u201c", "dot", "DoT", "[.]", "(dot)"]), max_size=30).map("".join))
@settings(max_examples=300, deadline=None)
def test_obfuscation_hint_on_folded_bytes_is_the_pattern(text):
    import mailrep.trace.urls as urls_module

    low = urls_module._folded(text)
    if isinstance(low, bytes):
        fast = urls_module._OBFUSCATION_HINT_LOW.search(low) is not None
        assert fast == (urls_module._OBFUSCATION_HINT.search(text) is not None)
    else:  # the str path keeps the characters at their indexes, or gives up
        assert low is None or len(low) == len(text)


@given(st.lists(st.text(alphabet=st.sampled_from(list("ab_-9.")), max_size=70), min_size=1, max_size=4).map(".".join))
@settings(max_examples=400, deadline=None)
def test_one_pattern_for_all_labels_is_each_label_checked(host):
    import re

    import mailrep.trace.urls as urls_module

    label = re.compile(urls_module._LABEL)
    each = all(label.fullmatch(part) for part in host.split("."))
    assert (urls_module._LABELS.fullmatch(host) is not None) == each
