"""Every certificate the stack's CA issued: who holds it, its serial and fingerprint, expiry, revocation.

One JSON file beside the CA (pki/inventory.json, root only). The DICOM edge admits the active modality
certificates listed here and the CRL lists the revoked ones, so both follow from this one record.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from orthanc_config import pki

INVENTORY_FILE = "inventory.json"
KINDS = ("modality", "server", "client", "probe")
USAGE_NAMES = {"1.3.6.1.5.5.7.3.1": "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth"}


@dataclass
class CertRecord:
    name: str  # the AE title of a modality; "server", "server-rsa" or "pacs-client" for the host's own
    kind: str  # modality | server | client
    serial: int
    fingerprint: str  # SHA-1, as nginx's $ssl_client_fingerprint
    not_after: str  # ISO 8601, UTC
    cert: str
    key: str
    usages: tuple[str, ...] = ()
    revoked_at: str | None = None
    retire_after: str | None = None  # the end of a rotation's overlap: admitted until then

    @property
    def expires(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.not_after)

    def active(self, now: dt.datetime) -> bool:
        retired = self.retire_after is not None and dt.datetime.fromisoformat(self.retire_after) <= now
        return self.revoked_at is None and self.expires > now and not retired

    def status(self, now: dt.datetime, warn_days: int) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires <= now:
            return "expired"
        if self.retire_after and dt.datetime.fromisoformat(self.retire_after) <= now:
            return "retired"
        if self.expires <= now + dt.timedelta(days=warn_days):
            return "expiring"
        return "valid"


class Inventory:
    def __init__(self, path: Path, records: list[CertRecord]) -> None:
        self.path = path
        self.records = records

    @classmethod
    def load(cls, pki_dir: Path) -> Inventory:
        path = pki_dir / INVENTORY_FILE
        if not path.exists():
            return cls(path, [])
        rows = json.loads(path.read_text())
        return cls(path, [CertRecord(**{**r, "usages": tuple(r.get("usages", ()))}) for r in rows])

    def save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump([asdict(r) for r in self.records], fh, indent=2)
        os.replace(tmp, self.path)

    def add(self, issued: pki.Issued, name: str, kind: str) -> CertRecord:
        from cryptography import x509

        cert = pki.load_cert(issued.cert)
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            usages = tuple(USAGE_NAMES.get(u.dotted_string, u.dotted_string) for u in eku)
        except x509.ExtensionNotFound:
            usages = ()
        record = CertRecord(
            name=name,
            kind=kind,
            serial=cert.serial_number,
            fingerprint=pki.fingerprint(cert),
            not_after=pki.not_after(cert).isoformat(),
            cert=str(issued.cert),
            key=str(issued.key),
            usages=usages,
        )
        self.records = [r for r in self.records if r.serial != record.serial] + [record]
        return record

    def active(self, name: str | None = None, now: dt.datetime | None = None) -> list[CertRecord]:
        now = now or dt.datetime.now(dt.UTC)
        return [r for r in self.records if r.active(now) and (name is None or r.name == name)]

    def find(self, name_or_serial: str) -> list[CertRecord]:
        """Records matching an AE title / host certificate name, or a serial in hex or decimal."""
        by_name = [r for r in self.records if r.name == name_or_serial]
        if by_name:
            return by_name
        wanted = name_or_serial.lower().removeprefix("0x").replace(":", "")
        return [r for r in self.records if f"{r.serial:x}" == wanted or str(r.serial) == name_or_serial]

    def revoked(self) -> dict[int, dt.datetime]:
        return {r.serial: dt.datetime.fromisoformat(r.revoked_at) for r in self.records if r.revoked_at}
