"""`pacsguard pki` on the local stack: each change re-renders nginx's edge and reloads it.

Revoking, rotating or re-issuing a certificate reloads nginx only (its map and CRL): Orthanc keeps running.
Adding a modality also changes Orthanc's AE allow-list, which Orthanc 1.10.1 reads only at start-up, so that
one restarts Orthanc.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

from orthanc_config import bootstrap, pki_lifecycle
from orthanc_config.cert_inventory import CertRecord, Inventory
from orthanc_config.layout import HostLayout
from orthanc_config.local_stack import (
    ADDED_MODALITIES_FILE,
    LocalOptions,
    LocalStackError,
    is_up,
    link_addresses,
    local_profile,
    reload_nginx,
    restart_orthanc,
)
from orthanc_config.profile import MAX_CERT_VALIDITY_DAYS, Modality, ProfileError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Change:
    records: list[CertRecord]
    nginx_reloaded: bool
    orthanc_restarted: bool


def _layout(opts: LocalOptions) -> HostLayout:
    return HostLayout(local_profile(opts))


def _apply(opts: LocalOptions, inventory: Inventory, *, restart: bool, say: Progress) -> tuple[bool, bool]:
    """Save the inventory, rewrite the CRL and the configuration, and make the running stack read them."""
    inventory.save()
    # configure() re-runs ensure_pki (which rewrites the CRL from the inventory) and renders nginx's map.
    bootstrap.configure(_layout(opts).profile, say=lambda _m: None, install_packages=False, listen=link_addresses(opts))
    if not is_up(opts):
        say("The local stack is not running: the change takes effect at the next `pacsguard local up`")
        return False, False
    say("nginx: reloading the DICOM edge (certificate map and CRL)")
    reload_nginx(opts)
    if restart:
        say("Orthanc: restarting (its AE allow-list changed)")
        restart_orthanc(opts, say=lambda _m: None)
    return True, restart


def check_days(days: int | None) -> None:
    if days is not None and not 1 <= days <= MAX_CERT_VALIDITY_DAYS:
        raise ProfileError(f"--days {days}: certificates are valid 1-{MAX_CERT_VALIDITY_DAYS} days")


def issue(
    opts: LocalOptions,
    aet: str,
    *,
    host: str | None,
    rights: tuple[str, ...] | None,
    port: int = 104,
    days: int | None = None,
    say: Progress = print,
) -> Change:
    check_days(days)
    profile = local_profile(opts)
    pki_lifecycle.LocalCa(HostLayout(profile).pki).signing_pair()  # fails before anything is written
    known = {m.aet: m for m in profile.modalities}
    added = aet not in known
    if added:
        if not host or not rights:
            raise ProfileError(f"{aet} is a new modality: give its address and rights (--host ADDR --rights echo,...)")
        modality = Modality(aet, host, port, rights)  # validates AE title, address and rights
        if not any(ipaddress.ip_address(host) in ipaddress.ip_network(n) for n in profile.modality_cidrs):
            raise ProfileError(f"--host {host}: outside the modality networks {', '.join(profile.modality_cidrs)}")
        _save_added(opts, modality)
        try:
            profile = local_profile(opts)  # validates the whole profile with it (duplicates, own AE title)
        except ProfileError:
            _remove_added(opts, aet)
            raise
    elif (host and host != known[aet].host) or (rights and tuple(rights) != known[aet].rights):
        raise ProfileError(f"{aet} exists with host {known[aet].host} and rights {','.join(known[aet].rights)}")
    layout = HostLayout(profile)
    inventory = Inventory.load(layout.pki)
    if inventory.active(aet):
        raise ProfileError(f"{aet} already holds a valid certificate: `pki rotate {aet}` replaces it with an overlap")
    say(f"PKI: issuing a certificate for {aet}")
    record = pki_lifecycle.issue_modality(layout, pki_lifecycle.LocalCa(layout.pki), inventory, aet, days=days)
    reloaded, restarted = _apply(opts, inventory, restart=added, say=say)
    return Change([record], reloaded, restarted)


def revoke(opts: LocalOptions, target: str, say: Progress = print) -> Change:
    layout = _layout(opts)
    pki_lifecycle.LocalCa(layout.pki).signing_pair()
    inventory = Inventory.load(layout.pki)
    hits = pki_lifecycle.revoke(inventory, target)
    if not hits:
        raise ProfileError(f"{target}: no unrevoked certificate with this AE title, name or serial (see `pki list`)")
    say(f"PKI: revoked {', '.join(f'{r.name} {r.serial:x}' for r in hits)}")
    reloaded, _ = _apply(opts, inventory, restart=False, say=say)
    return Change(hits, reloaded, False)


def rotate(opts: LocalOptions, target: str, overlap_days: int, say: Progress = print) -> Change:
    """`server`: new ECDSA and RSA server certificates (clients verify the CA, not the leaf). An AE title: a
    successor certificate; the old one stays admitted for `overlap_days` while the modality switches."""
    layout = _layout(opts)
    ca = pki_lifecycle.LocalCa(layout.pki)
    ca.signing_pair()
    inventory = Inventory.load(layout.pki)
    if target == "server":
        now = dt.datetime.now(dt.UTC).isoformat()
        for name, (cert, _key) in (("server", layout.server), ("server-rsa", layout.server_rsa)):
            for r in inventory.active(name):
                r.retire_after = now  # superseded at once: peers check the CA, not the leaf
            cert.unlink(missing_ok=True)  # ensure_pki issues a missing host certificate
        reloaded, _ = _apply(opts, inventory, restart=False, say=say)
        fresh = Inventory.load(layout.pki)
        return Change(fresh.active("server") + fresh.active("server-rsa"), reloaded, False)
    if target in {m.aet for m in layout.profile.modalities}:
        if not 0 <= overlap_days <= 90:
            raise ProfileError(f"--overlap-days {overlap_days}: 0-90")
        records = [pki_lifecycle.rotate_modality(layout, ca, inventory, target, overlap_days)]
    else:
        raise ProfileError(f"{target}: rotate `server` or a modality's AE title")
    reloaded, _ = _apply(opts, inventory, restart=False, say=say)
    return Change(records, reloaded, False)


def listing(opts: LocalOptions) -> list[dict]:
    layout = _layout(opts)
    if not layout.ca[0].exists():
        raise LocalStackError(f"no CA under {layout.pki}: bring the stack up first (`pacsguard local up`)")
    return pki_lifecycle.listing(Inventory.load(layout.pki))


def _save_added(opts: LocalOptions, modality: Modality) -> None:
    path = opts.state_dir / ADDED_MODALITIES_FILE
    rows = json.loads(path.read_text()) if path.exists() else []
    rows.append({**asdict(modality), "rights": list(modality.rights)})
    path.write_text(json.dumps(rows, indent=2) + "\n")


def _remove_added(opts: LocalOptions, aet: str) -> None:
    path = opts.state_dir / ADDED_MODALITIES_FILE
    rows = [r for r in json.loads(path.read_text()) if r["aet"] != aet]
    path.write_text(json.dumps(rows, indent=2) + "\n")
