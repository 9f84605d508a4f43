"""Big shared domains that the domain blocklist never lists: URL shorteners, webmail
providers, hosting and file sharing, e-mail service providers and top sites. Spam links through
them, but so does everybody: listing one would block the mail of millions. Names under them are
exempt too; hosting suffixes whose subdomains belong to different people (`github.io`,
`appspot.com`: the PSL's private section) are not here, as `evil.github.io` is its own domain.
`[dbl] exemptions` adds to the list and `[dbl] bundled_exemptions = false` replaces it.
"""

from __future__ import annotations

SHARED_DOMAINS: frozenset[str] = frozenset((
    "126.com", "163.com", "1drv.ms", "akamai.net", "akamaihd.net", "amazon.com", "amazonaws.com",
    "aol.com", "apache.org", "apple.com", "azure.com", "azureedge.net", "baidu.com",
    "bing.com", "bit.ly", "bl.ink", "blogger.com", "box.com", "buff.ly",
    "cloudflare.com", "constantcontact.com", "cutt.ly", "dlvr.it",
    "doubleclick.net", "dropbox.com", "ebay.com",
    "facebook.com", "fastly.net", "fastmail.com", "forms.gle", "github.com",
    "gitlab.com", "gmail.com", "gmx.com", "gmx.de", "gmx.net", "goo.gl",
    "google-analytics.com", "google.com", "googleapis.com", "googlemail.com",
    "googletagmanager.com", "googleusercontent.com", "gstatic.com", "hotmail.com",
    "icloud.com", "instagram.com", "is.gd", "linkedin.com", "list-manage.com", "live.com",
    "live.net", "lnkd.in", "mail.com", "mail.ru", "mailchimp.com", "mailgun.org", "me.com",
    "mediafire.com", "medium.com", "microsoft.com", "mozilla.org", "msn.com", "naver.com",
    "netflix.com", "office.com", "office365.com", "onedrive.com", "outlook.com",
    "ow.ly", "paypal.com", "pinterest.com", "proton.me", "protonmail.com", "qq.com",
    "rb.gy", "rebrand.ly", "reddit.com", "s.id", "schema.org", "sendgrid.net", "sharepoint.com",
    "short.io", "shorturl.at", "sparkpostmail.com", "squarespace.com", "t.co",
    "t.ly", "tiktok.com", "tiny.cc", "tinyurl.com", "tumblr.com", "twitter.com", "v.gd",
    "vimeo.com", "w3.org", "web.de", "weebly.com", "wetransfer.com",
    "whatsapp.com", "wikipedia.org", "windows.net", "wix.com", "wordpress.com",
    "x.com", "yahoo.co.jp", "yahoo.com", "yandex.com", "yandex.ru", "ymail.com",
    "youtube.com", "zoho.com",
))
