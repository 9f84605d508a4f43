"""The HTML pages: server-rendered Jinja2 (templates/) and static files (static/) from the package.

    /                home: lookup form and headline figures
    /lookup?ip=      the TXT record's link: status, evidence, history, delisting form
    /delisting/{id}  a delisting request's status
    /login /logout   a session from an API token (signed cookie; CSRF token on every form)
    /report          paste a spam -> preview (stores nothing) -> "Send report" (the intake path)
    /reports         the reporter's own reports
    /desk            deputies: delisting queue, manual actions, explain
    /stats           SVG charts; /stats.json the same figures
    /docs /redoc     the API's Swagger UI and ReDoc, assets served from static/vendor (offline)

No page needs JavaScript; only /docs and /redoc run the vendored viewers. `routes.install(app)`
adds them all to the app.
"""

