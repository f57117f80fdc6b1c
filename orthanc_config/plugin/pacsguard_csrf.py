"""Cross-site request forgery: a browser that holds a user's credentials (cached Basic, the ALB's session
cookie) must not let another site change state on the PACS.

A state-changing request is refused when its Origin (or Sec-Fetch-Site) names another site, and a POST must
carry what no cross-site form or simple fetch can send without a CORS preflight (which the PACS never grants):
a non-simple content type, or an X-Requested-With header. Standard library only.
"""

from __future__ import annotations

STATE_CHANGING = frozenset({"POST", "PUT", "DELETE", "PATCH"})
# The content types a cross-site <form> or a fetch without preflight may send (WHATWG Fetch, CORS-safelisted).
SIMPLE_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
SAME_SITE_FETCH = frozenset({"same-origin", "none"})  # "none": typed in the address bar, not sent by a page


def cross_site_refusal(method: str, headers: dict[str, str]) -> str | None:
    """Why this request looks forged by another site, or None. Header names are lower case."""
    if method.upper() not in STATE_CHANGING:
        return None
    origin = headers.get("origin")
    if origin is not None and not _same_origin(origin, headers.get("host", "")):
        return f"cross-site request refused (Origin {origin[:100]!r})"
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in SAME_SITE_FETCH:
        return f"cross-site request refused (Sec-Fetch-Site {fetch_site[:40]!r})"
    if method.upper() == "POST" and "x-requested-with" not in headers:
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not media_type or media_type in SIMPLE_CONTENT_TYPES:
            return (
                f"POST with content type {media_type or '(none)'!r} refused: send the body's own type "
                "(application/json, application/dicom, multipart/related) or an X-Requested-With header"
            )
    return None


def _same_origin(origin: str, host: str) -> bool:
    if not host:
        return False
    expected = {f"https://{host}".lower()}
    if host.endswith(":443"):
        expected.add(f"https://{host[:-4]}".lower())
    else:
        expected.add(f"https://{host}:443".lower())
    return origin.rstrip("/").lower() in expected
