"""`mailrep client-config postfix|spamassassin|exim|rspamd [--policy HOST:PORT]`.

Prints a snippet that makes the named program use this instance's zones (`bl.<base>`: listed
sources, A 127.0.0.2; `dbl.<base>`: advertised domains, A 127.0.1.2; `wl.<base>`: the allow
list) and, for Postfix, the policy service. `<base>` is the configured `zone_base`. The
program's resolver must reach mailrep's DNS for `<base>` (a stub or forward zone).
Each snippet is loaded into its real program by tests/cli/test_clientcfg.py.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mailrep.cli.common import DATA_DIR_HELP, exits

A_LISTED = "127.0.0.2"
A_DOMAIN = "127.0.1.2"
PROGRAMS = ("postfix", "spamassassin", "exim", "rspamd")


def postfix(base: str, policy: str) -> str:
    return f"""\
# mailrep for Postfix: add to main.cf (keep your own restrictions in place of the first two).
# A listed client is refused with Postfix's DNSBL reply, which carries mailrep's TXT link;
# the policy service refuses poor reputation and counts each message as volume.
smtpd_recipient_restrictions =
    permit_mynetworks,
    reject_unauth_destination,
    permit_dnswl_client wl.{base}={A_LISTED},
    reject_rbl_client bl.{base}={A_LISTED},
    reject_rhsbl_helo dbl.{base}={A_DOMAIN},
    reject_rhsbl_sender dbl.{base}={A_DOMAIN},
    check_policy_service {{ inet:{policy}, timeout=10s, default_action=DUNNO }}
"""


def spamassassin(base: str, policy: str) -> str:
    return f"""\
# mailrep for SpamAssassin: save as /etc/spamassassin/mailrep.cf
header   RCVD_IN_MAILREP_BL  eval:check_rbl('mailrep-lastexternal', 'bl.{base}.', '{A_LISTED}')
describe RCVD_IN_MAILREP_BL  Last external relay listed by mailrep (bl.{base})
tflags   RCVD_IN_MAILREP_BL  net
score    RCVD_IN_MAILREP_BL  3.0

header   RCVD_IN_MAILREP_WL  eval:check_rbl('mailrep-wl', 'wl.{base}.', '{A_LISTED}')
describe RCVD_IN_MAILREP_WL  Relay on mailrep's allow list (wl.{base})
tflags   RCVD_IN_MAILREP_WL  net nice
score    RCVD_IN_MAILREP_WL  -2.0

urirhssub URIBL_MAILREP_DBL  dbl.{base}. A {A_DOMAIN}
body      URIBL_MAILREP_DBL  eval:check_uridnsbl('URIBL_MAILREP_DBL')
describe  URIBL_MAILREP_DBL  Advertises a domain listed by mailrep (dbl.{base})
tflags    URIBL_MAILREP_DBL  net domains_only
score     URIBL_MAILREP_DBL  3.0
"""


def exim(base: str, policy: str) -> str:
    return f"""\
# mailrep for Exim: statements for the RCPT ACL (acl_check_rcpt), before its final accept.
  accept  dnslists = wl.{base}={A_LISTED}
  deny    dnslists = bl.{base}={A_LISTED}
          message  = $sender_host_address is listed by mailrep: $dnslist_text
  deny    condition = ${{if def:sender_address_domain}}
          dnslists = dbl.{base}/$sender_address_domain={A_DOMAIN}
          message  = $sender_address_domain is listed by mailrep: $dnslist_text
"""


def rspamd(base: str, policy: str) -> str:
    return f"""\
# mailrep for rspamd: save as /etc/rspamd/local.d/rbl.conf (or merge into it)
rbls {{
  mailrep_bl {{
    symbol = "RBL_MAILREP_BL";
    rbl = "bl.{base}";
    ipv6 = true;
    from = true;
    received = false;
    returncodes {{
      RBL_MAILREP_BL = "{A_LISTED}";
    }}
  }}
  mailrep_wl {{
    symbol = "RWL_MAILREP_WL";
    rbl = "wl.{base}";
    ipv6 = true;
    from = true;
    received = false;
    is_whitelist = true;
    returncodes {{
      RWL_MAILREP_WL = "{A_LISTED}";
    }}
  }}
  mailrep_dbl {{
    symbol = "DBL_MAILREP";
    rbl = "dbl.{base}";
    ignore_defaults = true;
    urls = true;
    emails = true;
    emails_domainonly = true;
    returncodes {{
      DBL_MAILREP = "{A_DOMAIN}";
    }}
  }}
}}
"""


SNIPPETS = {"postfix": postfix, "spamassassin": spamassassin, "exim": exim, "rspamd": rspamd}


def register(app: typer.Typer) -> None:
    @app.command("client-config")
    def client_config_cmd(
        program: str = typer.Argument(..., help="postfix, spamassassin, exim or rspamd"),
        policy: str = typer.Option("127.0.0.1:9998", "--policy",
                                   help="the policy service address (mailrep serve --policy)"),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    ) -> None:
        """Print a ready configuration snippet for a mail program."""
        from mailrep.config import load_settings
        from mailrep.errors import BadInput
        from mailrep.net import parse_hostport

        with exits("mailrep client-config", code=2):
            if program not in SNIPPETS:
                raise BadInput(f"the program is one of {', '.join(PROGRAMS)}")
            host, port = parse_hostport(policy, 9998)
            settings = load_settings(data_dir=data_dir)
            typer.echo(SNIPPETS[program](settings.zone_base, f"{host}:{port}"), nl=False)
