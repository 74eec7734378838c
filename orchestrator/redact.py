"""Keep secrets out of output, logs, MLflow params, tags and artifacts."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_text", "redact_url"]

REDACTED = "***"
# scheme://user:password@host -> the password part, wherever it appears in a text
_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)(?P<secret>[^\s@/]+)@")
# ?password=... or &token=... in a query string
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:password|passwd|pwd|token|secret|key)=)(?P<secret>[^&\s]+)", re.I
)


def redact_url(url: str | None) -> str | None:
    """``postgresql://hpo:s3cret@db/optuna`` -> ``postgresql://hpo:***@db/optuna``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc and ":" in netloc.rsplit("@", 1)[0]:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"
        url = urlunsplit(parts._replace(netloc=netloc))
    return redact_text(url)


def redact_text(text: str) -> str:
    """Redact every URL password and secret query value in free text (errors, logs)."""
    text = _CREDENTIALS.sub(lambda m: m.group("head") + REDACTED + "@", text)
    return _QUERY_SECRET.sub(lambda m: m.group("head") + REDACTED, text)
