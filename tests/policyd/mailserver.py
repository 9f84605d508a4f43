"""A throwaway Postfix instance and an unbound resolver for the mail-server tests.

    with Unbound(zone_base, dns_port) as resolver:           # stub zone -> mailrep's DNS
        with Postfix(restrictions, resolver=resolver.address) as mx:   # 127.0.0.1:mx.port
            swaks(mx.port, client="45.7.0.1")

Postfix runs as its own instance (`postfix -c DIR start`, every service unchrooted, logging to
`DIR/maillog`) in a private mount namespace whose /etc/resolv.conf names the unbound instance,
which listens on its own loopback address (127.53.x.y:53, nothing else on the machine is
touched). Instance directories are made under /tmp with mode 0755: Postfix's daemons run as
`postfix` and must reach them.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.peers import require
from tests.serve_proc import free_port

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.pf18.example
mydomain = pf18.example
mydestination = $myhostname
mynetworks = 127.0.0.1/32
local_recipient_maps =
local_transport = discard:
alias_maps =
alias_database =
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_delay_reject = yes
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
smtp_dns_support_level = enabled
"""


def instance_dir(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d.chmod(0o755)
    return d


class Unbound:
    def __init__(self, zone_base: str, dns_port: int) -> None:
        self.zone_base = zone_base
        self.dns_port = dns_port
        self.address = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
        self.dir = instance_dir("mailrep-unbound-")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Unbound:
        conf = self.dir / "unbound.conf"
        conf.write_text(f"""\
server:
  interface: {self.address}
  port: 53
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{self.dir}"
  pidfile: "{self.dir}/unbound.pid"
  use-syslog: no
  logfile: "{self.dir}/unbound.log"
  verbosity: 1
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "test." nodefault
  domain-insecure: "{self.zone_base}"
  cache-max-ttl: 0
  cache-max-negative-ttl: 0
stub-zone:
  name: "{self.zone_base}"
  stub-addr: 127.0.0.1@{self.dns_port}
""")
        self.proc = subprocess.Popen([require("unbound"), "-d", "-c", str(conf)])
        dig = require("dig")
        end = time.monotonic() + 20
        while time.monotonic() < end:
            out = subprocess.run([dig, f"@{self.address}", "+short", "+time=1", "+tries=1",
                                  f"2.0.0.127.bl.{self.zone_base}", "A"], capture_output=True, text=True)
            if out.stdout.strip() == "127.0.0.2":
                return self
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("unbound did not answer:\n" + (self.dir / "unbound.log").read_text())

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Postfix:
    def __init__(self, extra_main_cf: str, *, resolver: str | None = None) -> None:
        self.extra = extra_main_cf
        self.resolver = resolver
        self.port = free_port()
        self.dir = instance_dir("mailrep-postfix-")
        self.postfix = require("postfix")

    @property
    def maillog(self) -> Path:
        return self.dir / "maillog"

    def write(self) -> None:
        d = self.dir
        (d / "queue").mkdir()
        (d / "data").mkdir()
        shutil.chown(d / "data", "postfix")
        (d / "main.cf").write_text(MAIN_CF.format(d=d) + self.extra)
        (d / "master.cf").write_text(MASTER_CF.format(port=self.port))
        (d / "maillog").touch()

    def check(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.postfix, "-c", str(self.dir), "check"], capture_output=True, text=True)

    def __enter__(self) -> Postfix:
        self.write()
        start = f"{self.postfix} -c {self.dir} start"
        if self.resolver:
            (self.dir / "resolv.conf").write_text(f"nameserver {self.resolver}\noptions timeout:2 attempts:2\n")
            start = f"mount --bind {self.dir}/resolv.conf /etc/resolv.conf && {start}"
        r = subprocess.run([require("unshare"), "-m", "--propagation", "private", "sh", "-c", start],
                           capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
        if r.returncode != 0:
            raise RuntimeError(f"postfix did not start: {r.stdout}{r.stderr}\n{self.maillog.read_text()}")
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run([self.postfix, "-c", str(self.dir), "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def swaks(port: int, client: str, *, to: str = "user@mx.pf18.example", n: int = 0) -> str:
    """One mail through `port`, claiming `client` as the SMTP client address (XCLIENT)."""
    out = subprocess.run(
        [require("swaks"), "--server", f"127.0.0.1:{port}", "--to", to, "--from", f"sender{n}@example.net",
         "--xclient", f"ADDR={client} NAME=[UNAVAILABLE] HELO=client.example.net", "--helo", "client.example.net",
         "--header", f"Subject: test {n}", "--body", "hello", "--timeout", "30"],
        capture_output=True, text=True, timeout=120)
    return out.stdout + out.stderr
