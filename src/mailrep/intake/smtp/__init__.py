"""SMTP intake (aiosmtpd): submission addresses, feedback loops and spamtraps.

    handler   the aiosmtpd hooks: classify at RCPT, store at DATA, answer (`SubmissionHandler`,
              the `SmtpIntake` contract with `Owner`, `Submission`, and `received_header`)
    reading   `read_mail`: the checks and the reports a mail carries (pure, run off the loop)
    content   the checks: NUL bytes, bare CR/LF, the header limits
    codes     every reply as a named `Reply`, and `status_for()`: errors -> replies
    server    `SmtpServer`: the protocol with our limits, TLS, start and stop
"""
