"""The Received formats, in the order they must be tried (text after a leading `from `).

Order matters: several MTAs write lines that a more general pattern further down would
misread, so specific formats come first, the way SpamAssassin orders them (its
Message/Metadata/Received.pm is the reference for which fields each format yields).
Each rule names the MTA it was written for, with one example line.
"""

from __future__ import annotations

import re

from mailrep.trace import received_quirks as quirks
from mailrep.trace.received_patterns import (
    Custom,
    Family,
    Skip,
    Step,
    Take,
    compile_,
    table,
)

# Why lines are skipped; the trust path may look at these.
FETCHMAIL = "mail fetched from a mailbox (POP3/IMAP): the chain restarts here"
QMAIL_SCANNER = "qmail-scanner note on the previous handover"
LOCAL = "local submission or internal handover"
NO_ADDRESS = "handover recorded without an address"
NOT_FROM = "not a handover from another host"

# fmt: off
# --- the table ------------------------------------------------------------------------------

FROM_RULES: tuple[Step, ...] = table(
    # 142.169.110.122 (SquirrelMail authenticated user synapse) by mail.nomis80.org with HTTP
    Take(r"({IP})\b(?![.-]).{10,80}by (\S+) with HTTP", anywhere=True,
         guard=("authenticated user ", re.compile(r" \((?:SquirrelMail|NaSMail) authenticated user ")),
         ip=1, by=2),
    # 82.135.198.129 by FWM-M18.sysops.aol.com (64.12.168.82) with HTTP (WebMailUI)
    Take(r"({IP}) by (\S+) \({IP}\) with HTTP \(WebMailUI\)", anywhere=True,
         guard=("aol.com", "with HTTP (WebMailUI)"), ip=1, by=2),
    Family(
        (" SMTPSVC", (
            # 0 ([61.31.135.91]) by bass.bass.com.eg with Microsoft SMTPSVC(5.0.2195.6713)
            Take(r"(\S*) \(\[({IP})\][^)]{0,40}\) by (\S+) with Microsoft SMTPSVC", helo=1, ip=2, by=3),
            Skip(r"mail pickup service by \S+ with Microsoft SMTPSVC$", LOCAL),
        )),
        (quirks.microsoft_smtp_server, (
            # EXC-DAG-02.global.net (10.45.252.152) by EXC-DAG-02.global.net (10.45.252.152)
            #   with Microsoft SMTP Server (version=TLS1_2, ...) id 15.1.1261.35
            Take(r"(\S+) \(\[?({IP})(?:%[A-Z0-9._~-]*)?\]?\) by (\S+) ", helo=1, ip=2, by=3, id=""),
        )),
        ("[XMail ", (
            # list.brainbuzz.com (63.146.189.86:23198) by mx1.yourtech.net with [XMail 1.20 ESMTP Server]
            Take(r"(\S+) \((\[?{IP}\]?)(?::\d+)\) by (\S+)(?: \(\S+\))? with \[XMail",
                 helo=1, ip=2, by=3, post=quirks.xmail),
        )),
        (("(ecelerity", compile_(r"\(ecelerity\b")), (
            # ([192.168.1.151:49601] helo=dev1.democracyinaction.org) by m12.prod... (ecelerity 2.1.1.3)
            Take(r"\(\[({IP}):\d+\] helo=(\S+)\) by (\S+) ", ip=1, helo=2, by=3),
            Take(r"\S+ \(\[({IP}):\d+\]\) by (\S+) ", ip=1, by=2),
        )),
        ("Exim", (
            # andrew by trinity.supernews.net with local (Exim 4.12)
            Skip(r"\bwith local(?:-\S+)? ", LOCAL, anywhere=True),
            # [61.174.163.26] (helo=host) by sc8-sf-list1.sourceforge.net with smtp (Exim 3.31-VA-mm2)
            Take(r"\[({IP})\] \((.*?)\) by (\S+) ", ip=1, by=3, post=quirks.exim_comment(2)),
            # sc8-sf-list1-b.sourceforge.net ([10.3.1.13] helo=sc8-sf-list1.sourceforge.net) by ...
            Take(r"(\S+) \(\[({IP})\](.*?)\) by (\S+) ", rdns=1, helo=1, ip=2, by=4,
                 post=quirks.exim_comment(3)),
            # boggle.ihug.co.nz [203.109.252.209] by grunt6.ihug.co.nz with esmtp (Exim 3.35)
            Take(r"(\S+) \[({IP})\](?::\d+)? by (\S+) ", rdns=1, helo=1, ip=2, by=3),
            Custom(quirks.exim_pieces),
        )),
        (" (Postfix) with", (
            # localhost (unknown [127.0.0.1]) by cabbage.jmason.org (Postfix) with ESMTP id A96E18BD97
            Take(r"(\S+) \((\S+) \[({IP})\]\) by (\S+) ", helo=1, rdns=2, ip=3, by=4),
            # 207.8.214.3 (unknown[211.94.164.65]) by puzzle.pobox.com (Postfix) with SMTP
            Take(r"(\S+) \((\S+)\[({IP})\]\) by (\S+) ", helo=1, rdns=2, ip=3, by=4),
        )),
        ("(Scalix SMTP Relay", (
            # DPLAPTOP ( 72.242.176.162) by mail.puryear-it.com (Scalix SMTP Relay 10.0.1.3)
            Take(r"(\S+) \( ?({IP})\) by (\S+)", helo=1, ip=2, by=3),
        )),
        (" (Lotus Domino ", (
            Take(r"(\S+) \(\[({IP})\]\) by (\S+) \(Lotus", helo=1, ip=2, by=3),
        )),
    ),
    # 217.137.58.28 ([217.137.58.28]) by webmail.ukonline.net (IMP) with HTTP
    Take(r"({IP}) \(\[{IP}\]\) by (\S+)", guard=("with HTTP", compile_(r"\bwith HTTP\b")), ip=1, by=2),
    # sendmail: mail1.insuranceiq.com (host66.insuranceiq.com [65.217.159.66] (may be forged))
    #   by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id h2F0c2x31856
    Take(r"(\S+) \((\S+) \[({IP})\].*\) by (\S+) \(", unless=("(qmail-", compile_(r" by \S+ \(qmail-\S+\) with ")),
         helo=1, rdns=2, ip=3, by=4, post=quirks.ident_in_rdns),
    # ns.elcanto.co.kr (66.161.246.58 [66.161.246.58]) by mail.ssccbelen.edu.pe with SMTP (Microsoft...
    Take(r"(\S+) \((\S+) \[({IP})\]\) by (\S+) with \S+ \(", helo=1, rdns=2, ip=3, by=4),
    # mail2.detr.gsi.gov.uk ([51.64.35.18] helo=ahvfw.dtlr.gsi.gov.uk) by mail4.gsi.gov.uk with smtp
    Take(r"(\S+) \(\[({IP})\] helo=(\S+)\) by (\S+) with ", rdns=1, ip=2, helo=3, by=4),
    # 12-211-5-69.client.attbi.com (<unknown.domain>[12.211.5.69]) by rwcrmhc53.attbi.com
    Take(r"(\S+) \(<unknown\S*>\[({IP})\]\) by (\S+) ", helo=1, ip=2, by=3),
    # attbi.com (h000502e08144.ne.client2.attbi.com[24.128.27.103]) by rwcrmhc53.attbi.com
    Take(r"(\S+) \(([^\s.]*\.\S+)\[({IP})\]\) by (\S+) ", helo=1, rdns=2, ip=3, by=4),
    # 4wtgRl (kgbxn@[211.244.147.115]) by dogma.slashnull.org (8.11.6/8.11.6)
    Take(r"(\S+) \((\S*)\@\[({IP})\].*\) by (\S+) \(", helo=1, ip=3, by=4, ident=2),
    # 213.123.174.21 by lw11fd.law11.hotmail.msn.com with HTTP
    Take(r"by (\S+\.hotmail\.msn\.com) ", anywhere=True, guard=".hotmail.msn.com ", by=1, post=quirks.hotmail),
    # x71-x56-x24-5.webspeed.dk (HELO niels) (69.96.3.15) by la.mx.develooper.com (qpsmtpd/0.27-dev)
    Take(r"(\S+) \((?:HELO|EHLO) (\S*)\) \(({IP})\) by (\S+) \(qpsmtpd/\S+\) with (?:ESMTP|SMTP)",
         rdns=1, helo=2, ip=3, by=4),
    # mail-backend.DDDD.com (LHLO mail-backend.DDDD.com) (10.2.2.20) by mail-backend... with LMTP
    Take(r"(\S+) \(LHLO (\S*)\) \(({IP})\) by (\S+) with LMTP", rdns=1, helo=2, ip=3, by=4),
    # dslb-082-083-045-064.pools.arcor-ip.net (EHLO homepc) [82.83.45.64] by mail.gmx.net (mp010)
    Take(r"(\S+) \((?:HELO|EHLO) (\S*)\) \[({IP})\] by (\S+) \([^)]+\) with (?:ESMTP|SMTP)",
         rdns=1, helo=2, ip=3, by=4),
    # imo-m01.mx.aol.com ([64.12.136.4]) by eagle.glenraven.com via smtpd (for [198.85.87.98]) with SMTP
    Take(r"(\S+) \(\[({IP})\]\) by (\S+) via smtpd \(for \S+\) with SMTP\(", helo=1, ip=2, by=3),
    # postfix3-2.free.fr (HELO machine.domain.com) (foobar@213.228.0.169) by totor.bouissou.net with SMTP
    Custom(quirks.qmail),
    # [193.220.176.134] by web40310.mail.yahoo.com via HTTP
    Take(r"\[({IP})\] by (\S+) via HTTP$", ip=1, by=2),
    # 192.168.5.158 ( [192.168.5.158]) as user jason@localhost by mail.reusch.net with HTTP
    Take(r"(\S+) \( \[({IP})\]\).*? by (\S+) ", ip=2, by=3),
    # (64.52.135.194 [64.52.135.194]) by mail.unearthed.com with ESMTP id BQB0hUH2
    Take(r"\((\S+) \[({IP})\]\) by (\S+) ", helo=1, ip=2, by=3),
    # [65.167.180.251] by relent.cedata.com (MessageWall 1.1.0) with SMTP
    Take(r"\[({IP})\] by (\S+) ", ip=1, by=2),
    # ([172.16.1.78]) by email2.codeworksonline.com with Microsoft SMTPSVC(5.0.2195.6713)
    Take(r"\(\[?({IP})\]?\) by (\S+) ", ip=1, by=2),
    # acecomms [202.83.84.95] by mailscan.acenet.net.au [202.83.84.27] with SMTP (MDaemon.PRO.v5.0.6.R)
    Take(r"(\S+) \[({IP})\] by (\S+) \[{IP}\] with ", helo=1, ip=2, by=3),
    # smtp510.aspkunden.de [(134.97.4.21)] by mail.aspemail.de (134.97.4.24) (MDaemon PRO v19.0.2)
    Take(r"(\S+) \[\(({IP})\)\] by (\S+) \({IP}\) ", helo=1, ip=2, by=3),
    # mail.sxptt.zj.cn ([218.0.185.24]) by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP
    Take(r"(\S+) \(\[({IP})\]\) by (\S+) \(", helo=1, ip=2, by=3),
    # umr-mail7.umr.edu (umr-mail7.umr.edu [131.151.1.64]) via ESMTP by mrelay1.cc.umr.edu
    Take(r"(\S+) \((\S+) \[({IP})\]\).*? by (\S+)\b", helo=1, ip=3, by=4, post=quirks.softdnserr),
    # jsoliday.acs.internap.com ([63.251.66.24.63559]) by mailhost.acs.internap.com with esmtp
    Take(r"(\S+) \(\[({IP})(?:[.:]\d+)?\]\).*? by (\S+) ", helo=1, ip=2, by=3),
    # roissy (p573.as1.exs.dublin.eircom.net [159.134.226.61]) (authenticated bits=0) by slate...
    Take(r"(\S+) \((\S+) \[({IP})\]\)(?: \(authenticated bits=\d+\))? by (\S+) \(",
         helo=1, rdns=2, ip=3, by=4),
    # cabbage.jmason.org [127.0.0.1] by localhost with IMAP (fetchmail-5.9.0)
    Skip(r"with (?:POP3|IMAP)", FETCHMAIL, anywhere=True),
    # unknown (HELO feux01a-isp) (213.199.4.210) by totor.bouissou.net with SMTP
    Take(r"(\S+) \((?:HELO|EHLO) ([^)]*)\) \((\S*@)?\[?({IP})\]?\).* by (\S+) ",
         rdns=1, helo=2, ip=4, by=5, post=quirks.qmail_ident(3)),
    # x1-6-00-04-bd-d2-e0-a3.k317.webspeed.dk (benelli@80.167.158.170) by totor.bouissou.net with SMTP
    Take(r"(\S+) \((\S*@)?\[?({IP})\]?\).* by (\S+) ", rdns=1, helo=1, ip=3, by=4,
         post=quirks.qmail_ident(2)),
    # [129.24.215.125] by ws1-7.us4.outblaze.com with http for _bushisevil_@mail.com
    Take(r"\[({IP})\] by (\S+) with http for ", ip=1, by=2),
    # snake.corp.yahoo.com(216.145.52.229) by x.x.org via smap (V1.3)
    Take(r"(\S+)\(({IP})\) by (\S+) via smap ", rdns=1, ip=2, by=3),
    # smtp.greyware.com(208.14.208.51, HELO smtp.sff.net) by x.x.org via smap (V1.3)
    Take(r"(\S+)\(({IP}), (?:HELO|EHLO) (\S*)\) by (\S+) via smap ", rdns=1, ip=2, helo=3, by=4),
    # [192.168.0.71] by web01-nyc.clicvu.com (Post.Office MTA v3.5.3 release 223 ...)
    Take(r"\[({IP})\] by (\S+) \(Post", ip=1, by=2),
    # [127.0.0.1] by euphoria (ArGoSoft Mail Server Freeware, Version 1.8 (1.8.2.5))
    Take(r"\[({IP})\] by (\S+) \(ArGoSoft", ip=1, by=2),
    # 157.54.8.23 by inet-vrs-05.redmond.corp.microsoft.com (InterScan E-Mail VirusWall NT)
    Take(r"({IP}) by (\S+) \((?:SMTPL|InterScan)\b", ip=1, by=2),
    # faerber.muc.de by slarti.muc.de with BSMTP (rsmtp-qm-ot 0.4)
    Skip(r"\S+ by \S+ with BSMTP", "batch SMTP, not a TCP handover"),
    # spike (spike.ig.co.uk [193.32.60.32]) by mail.ig.co.uk with SMTP id h27CrCD03362
    Take(r"(\S+) \((\S+) \[({IP})\]\) by (\S+) with ", helo=1, rdns=2, ip=3, by=4),
    # customer254-217.iplannetworks.net (HELO AGAMENON) (baldusi@200.69.254.217 with plain) by smtp...
    Custom(quirks.helo_then_user_at_ip),
    # [192.168.1.104] (account nazgul HELO [192.168.1.104]) by somewhere.com (CommuniGate Pro SMTP 3.5.7)
    Take(r"\[({IP})\] \((?:account \S+ )?(?:HELO|EHLO) (\S*)\) by (\S+) \(", ip=1, helo=2, by=3),
    # host.example.com ([192.0.2.1] verified) by mail.example.net (CommuniGate Pro SMTP 5.1.13)
    Take(r"(\S+) \(\[({IP})\] verified\) by (\S+) \(", guard=" (CommuniGate Pro",
         rdns=1, helo=1, ip=2, by=3),
    # ([10.0.0.6]) by mail0.ciphertrust.com with ESMTP
    Take(r"\(\[({IP})\]\) by (\S+) with ", ip=1, by=2),
    # ironport.com (10.1.1.5) by a50.ironport.com with ESMTP
    Take(r"([^\d]\S+) \(({IP})\) by (\S+) ", helo=1, ip=2, by=3),
    # scv3.apple.com (scv3.apple.com) by mailgate2.apple.com (Content Technologies SMTPRS 4.2.1)
    Skip(r"\S+ \(\S+\) by \S+ \(Content Technologies ", NO_ADDRESS),
    # 01al10015010057.ad.bls.com ([90.152.5.141] [90.152.5.141]) by aismtp3g.bls.com with ESMTP
    Take(r"(\S+) \(\[({IP})\] \[\S+\]\) by (\S+) with ", helo=1, ip=2, by=3),
    # 206.47.0.153 by dm3cn8.bell.ca with ESMTP (Tumbleweed MMS SMTP Relay (MMS v5.0))
    Take(r"({IP}) by (\S+) with ", ip=1, by=2),
    # pobox.com (h005018086b3b.ne.client2.attbi.com[66.31.45.164]) by rwcrmhc53.attbi.com
    Take(r"(\S+) \((\S+)\[({IP})\]\) by (\S+) ", helo=1, rdns=2, ip=3, by=4),
    # [10.128.128.81]:50999 (HELO dfintra.f-secure.com) by fsav4im2 ([10.128.128.74]:25)
    Take(r"\[({IP})\]\S+ \((?:HELO|EHLO) (\S*)\) by (\S+) ", ip=1, helo=2, by=3),
    # 62.180.7.250 (HELO daisy) by smtp.altavista.de (209.228.22.152) with SMTP
    Take(r"({IP}) \((?:HELO|EHLO) (\S*)\) by (\S+) ", ip=1, helo=2, by=3),
    # oemcomputer [63.232.189.195] by highstream.net (SMTPD32-7.07) id A4CE7F2A0028
    Take(r"(\S+) \[({IP})\] by (\S+) ", helo=1, ip=2, by=3),
    # nodnsquery(192.100.64.12) by herbivore.monmouth.edu via csmap (V4.1) id srcAAAyHaywy
    Take(r"(\S+)\(({IP})\) by (\S+) ", rdns=1, ip=2, by=3),
    # [192.168.0.13] by <server> (MailGate 3.5.172) with SMTP
    Take(r"\[({IP})\] by (\S+) \(MailGate ", ip=1, by=2),
    # jmason.org (unverified [195.218.107.131]) by ni-mail1.dna.utvinternet.net <B0014212518@...>
    Take(r"(\S+) \(unverified \[({IP})\]\) by (\S+) ", helo=1, ip=2, by=3),
    # 165.228.131.11 (proxying for 139.130.20.189) by jmason.org with HTTP
    Take(r"({IP}) \([A-Za-z][^)]+\) by (\S+) with ", ip=1, by=2),
    # [212.87.144.30] (account seiz [212.87.144.30] verified) by x.imd.net (CommuniGate Pro SMTP 4.0.3)
    # [206.51.230.145] (helo=t-online.de) by mxeu2.kundenserver.de with ESMTP (Nemesis)
    Take(r"\[({IP})\] \(([^)]+)\) by (\S+) ", ip=1, by=3, post=quirks.exim_comment(2)),
    # mtsbp606.email-info.net (?dXqpg3b0hiH9faI2OxLT94P/YKDD3rQ1?@64.253.199.166) by kde.informatik...
    Take(r"(\S+) \((?:\S+\@)?({IP})\) by (\S+) with ", rdns=1, ip=2, by=3),
    # Obtuse smtpd: pl027.nas934.d-osaka.nttpc.ne.jp(61.197.82.27), claiming to be "foo.woas.net"
    #   via SMTP by st.tahina.priv.at, id smtpd1PBsZT
    Take(r"(\S+)\(({IP})\)(?:, claiming to be \"(\S+)\")? via \S+ by (\S+),",
         rdns=1, ip=2, by=4, post=quirks.claiming),
    # Yahoo: itrqtnlnq (lucilleskinner@93.124.107.183 with login) by smtp111.mail.ne1.yahoo.com
    Take(r"(\S+) \((\S+)@({IP}) with login\) by (\S+\.yahoo\.com) with SMTP", helo=1, ip=3, by=4),
    # synthetic line for X-Originating-IP and the like
    Take(r"X-Originating-IP: ({IP})$", ip=1, by=""),
    # ---- lines that are not relays ----
    Skip(r"\S+ \([^\s@]+@{LOCALHOST}\) by \S+ \(", LOCAL),
    Skip(r"\S+ \S+ by \S+ with local-e?smtp ", LOCAL),
    Skip(r"127\.0\.0\.1 \(AVG SMTP \S+ \[\S+\]\)", LOCAL),
    Skip(r"{MAILBOX_WORD}by \S+ by uid \S+ ", LOCAL),
    Skip(r"{MAILBOX_WORD}by \S+ ", LOCAL),
    Skip(r"Unknown/Local \(", LOCAL),
    Skip(r"{LOCALHOST} \((?:\S+@)?{LOCALHOST}[)\[]", LOCAL),
    Skip(r"\S+ \((?:\S+@)?{LOCALHOST}\) ", LOCAL),
    Skip(r"\S+ \({MAILBOX_WORD}\[{LOCALHOST}\]\) ", LOCAL),
    Skip(r"\(AUTH: \S+\) by \S+ with ", LOCAL),
    Skip(r"localhost \(localhost \[\[UNIX: localhost\]\]\) by ", LOCAL),
    Skip(r"\S+\.amazon\.com by \S+\.amazon\.com with ESMTP \(peer crosscheck: ", LOCAL),
    Skip(r"[^.]+ by \S+ with Novell_GroupWise", LOCAL),
    Skip(r"no\.name\.available by \S+ via smtpd \(for ", NO_ADDRESS),
    Skip(r"\S+ by \S+ \(.{0,100}\) with qmail-scanner", QMAIL_SCANNER),
    Skip(r"\S+ by \S+ with local", LOCAL),
    Skip(r"\S+ \(\[unix socket\]\) by \S+ \(Cyrus v\d*\.\d*\.\d*\) with LMTPA", LOCAL),
    Skip(r"\S+ by \S+ (?:with|via|for|\()", NO_ADDRESS),
    Skip(r"\S+ (?:(?:with|via|for) \S+|\(unverified\)) by\b", NO_ADDRESS),
    Skip(r"\S+ \(unknown\) by \S+ \(SG\) with \b", LOCAL),
    Skip(r"\S+ \(\S+ \[local\]\) by \S+ \(OpenSMTPD\) with \b", LOCAL),
    Skip(r"\(LSMTP for", NO_ADDRESS, anywhere=True),
    Skip(r"\(\[{LOCALHOST}\]\) with MailEnable ", LOCAL),
    Skip(r"facebook\.com \([^)]+\) by facebook\.com with Thrift id \S+$", LOCAL),
    Skip(r"\S+ named \S+ by gmailapi\.google\.com with HTTPREST$", LOCAL),
    Skip(r"\S+ id \S+$", NO_ADDRESS),
    Skip(r"\[<.*? \(Jetsend", LOCAL),
)
"""Tried in order on the text after `from `; the first rule that decides wins."""

# simta and Rockliffe write upper-case keywords:
# FROM hackers.mr.itd.umich.edu (smtp.mail.umich.edu [141.211.14.81]) BY madman.mr.itd.umich.edu ID ...
UPPER_RULES: tuple[Step, ...] = table(
    Take(r"(\S+) \((\S+) \[({IP})\]\) BY (\S+) (?:\([^)]+\) WITH SMTP )?ID <?(\S+?)>?(?: FOR <[^>]+>)?$",
         helo=1, rdns=2, ip=3, by=4, id=5),
)

# `(from ...)` comments written by local tools.
PAREN_RULES: tuple[Step, ...] = table(
    # Norton AntiVirus Gateway: (from localhost [24.180.47.240]) by host.name (NAVGW 2.5.2.12) with SMTP
    Take(r"(\S*) \[({IP})\]\) by (\S+) \(NAVGW .*?\) with ", helo=1, ip=2, by=3),
    # (from username@localhost) by home.example.com (8.12.11/8.12.11/Submit) id iBADHRP6011034
    Skip(r"\S+@localhost\) by \S+ ", LOCAL),
    # (from vashugins@juno.com) by m06.lax.untd.com (jqueuemail) id LRVB3JAJ
    Skip(r"[^\s@]+@[^)]+\) by \S+\(jqueuemail\) id [^\s;]+", LOCAL),
)

# fmt: on
