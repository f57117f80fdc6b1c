"""DICOM edge connections into the audit trail: one record per connection nginx's stream module logged,
accepted or refused, with the client's address, its certificate and the reason, joined to the AE title of the
association that Orthanc saw on the certificate's loopback address.

nginx writes a connection's line when the connection ends; Orthanc writes its refusal while the connection
is still open. The plugin reads Orthanc's log before nginx's on every pass, so a refusal is known (per loopback
address) by the time its connection's line arrives. Standard library only; the parser and the join are pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

ACCEPTED = ("110114", "User Authentication", "0")
REFUSED = ("110113", "Security Alert", "4")
RELAYED = ("110106", "Export", "0")
JOIN_WINDOW_S = 2.0  # slack around a connection's lifetime when matching Orthanc's refusal to it


def refusal_reason(line: dict) -> str | None:
    """Why nginx ended this connection without an association, or None when it passed it to Orthanc."""
    status, verify = line.get("status", ""), line.get("verify", "")
    if status == "503":
        return "too many connections from this address"
    if verify.startswith("FAILED:"):
        return f"client certificate refused: {verify.removeprefix('FAILED:')}"
    if not line.get("fingerprint"):
        if line.get("protocol") and line.get("cipher") not in ("", "(NONE)"):
            return "no client certificate"
        return "TLS handshake not completed (no certificate, a refused protocol or cipher, or a silent peer)"
    if not line.get("certificate_aet"):
        return "certificate issued to no listed modality"
    if not line.get("bound"):
        return (
            f"certificate of {line['certificate_aet']} presented from {line.get('client')}, not its modality's address"
        )
    if not line.get("upstream"):
        return "the association never started (no data before the first-PDU timeout)"
    return None


class EdgeAudit:
    """Turns nginx connection lines into audit records, joined to Orthanc's refusals by loopback address."""

    def __init__(self, write: Callable[[dict], None], relay_port: str = "") -> None:
        self.write = write
        self.relay_port = relay_port
        self.refusals: dict[str, list[tuple[float, dict]]] = {}

    def orthanc_refusal(self, fields: dict, now: float) -> None:
        ip = fields.get("source_ip") or ""
        if ip.startswith("127."):
            self.refusals.setdefault(ip, []).append((now, fields))

    def connection(self, line: dict) -> None:
        if self.relay_port and line.get("listener", "").endswith(f":{self.relay_port}"):
            self.write(self._relay(line))
            return
        reason = refusal_reason(line)
        aet = line.get("certificate_aet") or None
        outcome = ACCEPTED
        if reason is None:
            refusal = self._orthanc_refusal_during(line)
            if refusal is not None:
                called_as = refusal.get("ae_title")
                outcome, aet = REFUSED, called_as or aet
                why, holder = refusal.get("reason"), line["certificate_aet"]
                reason = f"Orthanc refused the association ({why}); certificate of {holder}"
        else:
            outcome = REFUSED
        event_id, name, code = outcome
        self.write(
            {
                "event_id": event_id,
                "event_name": name,
                "action": "E",
                "outcome": code,
                "user": aet,
                "role": "modality" if aet else None,
                "source_ip": line.get("client") or None,
                "ae_title": aet,
                "certificate_fingerprint": line.get("fingerprint") or None,
                "certificate_serial": line.get("serial") or None,
                "certificate_subject": line.get("subject") or None,
                "tls": " ".join(x for x in (line.get("protocol"), line.get("cipher")) if x and x != "(NONE)") or None,
                "reason": reason or "association passed to Orthanc",
            }
        )

    def _relay(self, line: dict) -> dict:
        failed = not line.get("upstream") or line.get("status") != "200"
        return {
            "event_id": RELAYED[0],
            "event_name": RELAYED[1],
            "action": "E",
            "outcome": "4" if failed else "0",
            "user": None,
            "role": None,
            "source_ip": line.get("client") or None,
            "destination": line.get("upstream") or None,
            "reason": "outbound association over TLS " + ("failed" if failed else "carried"),
        }

    def _orthanc_refusal_during(self, line: dict) -> dict | None:
        bound = line.get("bound", "")
        if not bound or bound not in self.refusals:
            return None
        end = _epoch(line.get("time", ""))
        start = end - float(line.get("duration") or 0) - JOIN_WINDOW_S
        found = None
        keep = []
        for when, fields in self.refusals[bound]:
            if found is None and start <= when <= end + JOIN_WINDOW_S:
                found = fields
            elif when > start:
                keep.append((when, fields))
        self.refusals[bound] = keep
        return found


def _epoch(iso: str) -> float:
    try:
        return dt.datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0
