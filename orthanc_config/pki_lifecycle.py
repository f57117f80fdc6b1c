"""Certificate lifecycle on a PACS host: issue, revoke, rotate, list, and the CRL, over one CA interface.

The CA's key is reached only through `CertificateAuthority.signing_pair()`: the local stack keeps it in its
PKI folder (`LocalCa`); an EC2 stack keeps a shared CA elsewhere (AWS Secrets Manager, built by the host-path
work) and plugs in here with its own implementation.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orthanc_config import pki
from orthanc_config.cert_inventory import CertRecord, Inventory
from orthanc_config.layout import HostLayout
from orthanc_config.profile import HostProfile

WARN_DAYS = 30  # `pki list` and bootstrap warn; bootstrap renews host certificates inside this window
FAIL_DAYS = 14  # `pacsguard verify` fails a certificate that expires this soon
HOST_CERTS = ("server", "server-rsa", "pacs-client")
REVOCATION_PROBE = "revocation-probe"


class CaUnavailable(Exception):
    """The CA's signing key cannot be reached from here; the message says what is needed."""


class CertificateAuthority(Protocol):
    def signing_pair(self) -> pki.Issued:
        """Paths of the CA certificate and its private key, readable by this process."""
        ...


@dataclass(frozen=True)
class LocalCa:
    pki_dir: Path

    def signing_pair(self) -> pki.Issued:
        pair = pki.Issued(self.pki_dir / "ca.crt", self.pki_dir / "ca.key")
        if not pair.cert.exists():
            raise CaUnavailable(f"no CA at {pair.cert}: bring the stack up first (`pacsguard local up`)")
        try:
            pair.key.read_bytes()
        except PermissionError:
            raise CaUnavailable(f"cannot read the CA key {pair.key}: run as root") from None
        except FileNotFoundError:
            raise CaUnavailable(f"no CA key at {pair.key}: this host holds only the CA certificate") from None
        return pair


@dataclass(frozen=True)
class SharedCa:
    """An EC2 stack's CA, kept in AWS Secrets Manager and fetched by the host's instance role."""

    stack: str
    secret: str = ""

    def signing_pair(self) -> pki.Issued:
        where = f" ({self.secret})" if self.secret else ""
        raise CaUnavailable(
            f"stack {self.stack!r} keeps its CA in AWS Secrets Manager{where}, and reading it from there is not "
            "built yet: it needs the CA secret's ARN and credentials allowed secretsmanager:GetSecretValue on it "
            "(and kms:Decrypt on its key). Omit --stack to manage the local stack's CA"
        )


def modality_usages(profile: HostProfile, aet: str) -> tuple[bool, bool]:
    """(server, client) usages: every modality calls the PACS; one that C-MOVEs also receives the instances."""
    m = next(x for x in profile.modalities if x.aet == aet)
    return "move" in m.rights, True


def issue_modality(
    layout: HostLayout, ca: CertificateAuthority, inventory: Inventory, aet: str, *, days: int | None = None
) -> CertRecord:
    """A new certificate for `aet`, written to pki/modalities/AET.crt; an earlier one keeps its own file."""
    profile = layout.profile
    server, client = modality_usages(profile, aet)
    current = layout.modality_dir / f"{aet}.crt"
    for record in inventory.records:
        if record.cert == str(current) and current.exists():
            _move_aside(record)
    layout.modality_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    m = next(x for x in profile.modalities if x.aet == aet)
    issued = pki.issue(
        ca.signing_pair(),
        layout.modality_dir,
        aet,
        aet,
        days=days or profile.cert_validity_days,
        server=server,
        client=client,
        addresses=(m.host,),
    )
    return inventory.add(issued, aet, "modality")


def _move_aside(record: CertRecord) -> None:
    """Keep an older certificate (still admitted during an overlap) under a name of its own."""
    cert, key = Path(record.cert), Path(record.key)
    stem = f"{record.name}-{record.serial:x}"[:64]
    new_cert, new_key = cert.with_name(f"{stem}.crt"), key.with_name(f"{stem}.key")
    shutil.move(cert, new_cert)
    if key.exists():
        shutil.move(key, new_key)
    record.cert, record.key = str(new_cert), str(new_key)


def issue_revocation_probe(layout: HostLayout, ca: CertificateAuthority, inventory: Inventory) -> CertRecord:
    """A certificate in the name of the first modality, revoked at once: a TLS handshake with it must fail on
    the CRL alone (nginx records "certificate revoked"), which `pacsguard verify` checks without changing state."""
    aet = layout.profile.modalities[0].aet
    layout.probe_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    issued = pki.issue(ca.signing_pair(), layout.probe_dir, REVOCATION_PROBE, aet, days=30, server=False)
    record = inventory.add(issued, REVOCATION_PROBE, "probe")
    record.revoked_at = dt.datetime.now(dt.UTC).isoformat()
    return record


def revoke(inventory: Inventory, target: str) -> list[CertRecord]:
    """Revoke every active certificate of an AE title, or the one with this serial."""
    now = dt.datetime.now(dt.UTC)
    hits = [r for r in inventory.find(target) if r.revoked_at is None]
    for r in hits:
        r.revoked_at = now.isoformat()
    return hits


def rotate_modality(
    layout: HostLayout, ca: CertificateAuthority, inventory: Inventory, aet: str, overlap_days: int
) -> CertRecord:
    """Issue a successor; the predecessors stay admitted for `overlap_days`, so the modality can switch over."""
    now = dt.datetime.now(dt.UTC)
    for r in inventory.active(aet, now):
        r.retire_after = (now + dt.timedelta(days=overlap_days)).isoformat()
    return issue_modality(layout, ca, inventory, aet)


def write_crl(layout: HostLayout, ca: CertificateAuthority, inventory: Inventory) -> None:
    """The CRL nginx checks every client (and every TLS peer) against; retired overlap certificates join it."""
    now = dt.datetime.now(dt.UTC)
    revoked = inventory.revoked()
    for r in inventory.records:
        if r.retire_after and r.revoked_at is None and dt.datetime.fromisoformat(r.retire_after) <= now:
            revoked[r.serial] = dt.datetime.fromisoformat(r.retire_after)
    pki.write_crl(ca.signing_pair(), layout.crl, revoked)


def listing(inventory: Inventory, now: dt.datetime | None = None) -> list[dict]:
    now = now or dt.datetime.now(dt.UTC)
    rows = []
    for r in sorted(inventory.records, key=lambda x: (x.kind, x.name, x.not_after)):
        rows.append(
            {
                "name": r.name,
                "kind": r.kind,
                "serial": f"{r.serial:x}",
                "fingerprint": r.fingerprint,
                "usages": list(r.usages),
                "not_after": r.not_after,
                "days_left": (r.expires - now).days,
                "status": r.status(now, WARN_DAYS),
                "retire_after": r.retire_after,
                "cert": r.cert,
            }
        )
    return rows
