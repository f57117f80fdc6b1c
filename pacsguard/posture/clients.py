"""Clients as a modality and as a user would be: pynetdicom over mutual TLS, HTTPS with roles."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, PatientRootQueryRetrieveInformationModelFind, Verification


def tls_context(ca: str, cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if cert and key:
        ctx.load_cert_chain(cert, key)
    return ctx


def associate(stack: dict, *, aet: str, called: str | None = None, ctx: ssl.SSLContext | None = None,
              source: str | None = None, contexts: tuple = (Verification, CTImageStorage),
              timeout: float = 5):  # fmt: skip
    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = ae.connection_timeout = timeout
    for c in contexts:
        ae.add_requested_context(c)
    d = stack["dicom"]
    kwargs = {"ae_title": called or d["called_aet"]}
    if ctx is not None:
        kwargs["tls_args"] = (ctx, d["host"])
    # A target whose modalities sit at several addresses of the verifier's network says which to call from.
    source = source or next((m.get("source") for m in stack["modalities"] if m["aet"] == aet), None)
    if source:
        kwargs["bind_address"] = (source, 0)
    return ae.associate(d["host"], d["port"], **kwargs)


def modality(stack: dict, aet: str) -> dict:
    return next(m for m in stack["modalities"] if m["aet"] == aet)


def modality_ctx(stack: dict, aet: str) -> ssl.SSLContext:
    m = modality(stack, aet)
    return tls_context(stack["ca_cert"], m["cert"], m["key"])


def echo_status(assoc) -> int | None:
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
        return status.Status if status else None
    finally:
        assoc.release()


def find_statuses(assoc) -> list[int]:
    from pydicom.dataset import Dataset

    if not assoc.is_established:
        return []
    q = Dataset()
    q.QueryRetrieveLevel = "PATIENT"
    q.PatientID = "*"
    out = []
    try:
        for status, _ in assoc.send_c_find(q, PatientRootQueryRetrieveInformationModelFind):
            if status:
                out.append(status.Status)
    finally:
        assoc.release()
    return out


FIND = PatientRootQueryRetrieveInformationModelFind


# Every HTTPS probe of this run, so the trail's completeness can be checked against what was really sent.
SENT: list[dict] = []


def https(stack: dict, method: str, path: str, user: str | None = None, password: str | None = None,
          body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:  # fmt: skip
    answer = _https(stack, method, path, user, password, body, headers)
    via = "alb" if stack.get("alb") and user is not None and password is None else "basic"
    SENT.append({"method": method, "path": path, "user": user, "status": answer[0], "via": via})
    return answer


def _https(stack: dict, method: str, path: str, user: str | None, password: str | None, body: bytes | None,
           headers: dict | None) -> tuple[int, bytes, dict]:  # fmt: skip
    url = stack["https_url"].rstrip("/") + path
    hdrs = dict(headers or {})
    if body is not None and not any(k.lower() == "content-type" for k in hdrs):
        # The body's own type, as a real client sends it (urllib's default, a form, is refused as cross-site).
        hdrs["Content-Type"] = "application/dicom" if body[128:132] == b"DICM" else "application/json"
    if user is not None:
        hdrs.update(credential_headers(stack, user, password))
    req = urllib.request.Request(url, data=body, method=method, headers=hdrs)  # noqa: S310 (https URL from the stack)
    try:
        with urllib.request.urlopen(req, context=tls_context(stack["ca_cert"]), timeout=10) as resp:  # noqa: S310
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def credential_headers(stack: dict, user: str, password: str | None = None) -> dict[str, str]:
    """How a user proves who they are to the target: HTTP Basic, or behind an ALB (a target with "alb") the
    header the ALB signs for a signed-in user. A password given explicitly always goes as HTTP Basic: the probe
    is about that path."""
    if stack.get("alb") and password is None:
        from pacsguard.posture import alb

        return alb.user_headers(stack["alb"], user, stack["_users"][user]["role"])
    pw = password if password is not None else stack["_users"][user]["password"]
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


def credential_lines(stack: dict, user: str) -> str:
    """The same credentials as raw HTTP header lines, for probes that write their own requests."""
    return "".join(f"{k}: {v}\r\n" for k, v in credential_headers(stack, user).items())


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def audit_lines(stack: dict) -> list[dict]:
    return [json.loads(line) for line in Path(stack["audit_log"]).read_text().splitlines() if line.strip()]


def old_tls_outcome(host: str, port: int, version: str) -> str:
    """'refused', 'accepted', or 'cannot-offer' when this machine's OpenSSL cannot speak `version` at all."""
    import warnings

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection((host, port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=host):
                return "accepted"
        except ssl.SSLError as exc:
            return "cannot-offer" if "no protocols available" in str(exc).lower() else "refused"


def assert_old_tls_refused(host: str, port: int, version: str, what: str) -> None:
    import pytest

    outcome = old_tls_outcome(host, port, version)
    if outcome == "cannot-offer":
        pytest.skip(f"this machine's OpenSSL cannot offer {version}, so it cannot probe it")
    assert outcome == "refused", f"{what} accepted {version}"
