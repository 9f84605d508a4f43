"""SMTP intake (aiosmtpd): submission addresses, feedback loops and spamtraps.

    handler   the aiosmtpd hooks: classify at RCPT, store at DATA, answer (`SubmissionHandler`,
              the `SmtpIntake` contract with `Owner`, `Submission`, and `received_header`)
    codes     every reply as a named `Reply`, and `status_for()`: errors -> replies
    server    `SmtpServer`: the protocol with our limits, TLS, start and stop
"""
