"""What leaves mailrep: abuse contacts (RDAP), ARF reports, the smarthost that sends mail.

    rdap          pure: bootstrap file -> server; RDAP answer -> network, abuse addresses
    rdap_client   the HTTP side of RDAP (httpx): bootstrap loading, referrals, timeouts
    arf           pure: a stored report and its trace -> an RFC 5965 report, RFC 6590 redacted
    digest        pure: one network's reports of a day -> one mail
    smarthost     SMTP submission (STARTTLS and AUTH optional), shared with the intake replies
"""
