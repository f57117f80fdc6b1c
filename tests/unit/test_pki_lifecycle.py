"""Certificate lifecycle: usages per direction, validity cap, revocation into the CRL, rotation with overlap,
expiry warnings, and the CA interface's message when the CA is not local."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from orthanc_config import pki, pki_lifecycle
from orthanc_config.bootstrap import edge_certificates
from orthanc_config.cert_inventory import Inventory
from orthanc_config.layout import HostLayout
from orthanc_config.profile import HostProfile, Modality
from pacsguard.cli import app


@pytest.fixture
def layout(tmp_path: Path) -> HostLayout:
    profile = HostProfile(
        name="t",
        mode="local",
        pki_dir=str(tmp_path / "pki"),
        modalities=(
            Modality("CT1", "198.18.0.1", 104, ("echo", "store")),
            Modality("WS1", "198.18.0.5", 11112, ("echo", "find", "move")),
        ),
    )
    pki.create_ca(tmp_path / "pki", "Test CA", 30)
    return HostLayout(profile)


def ca(layout: HostLayout) -> pki_lifecycle.LocalCa:
    return pki_lifecycle.LocalCa(layout.pki)


def crl_serials(layout: HostLayout) -> set[int]:
    return {r.serial_number for r in x509.load_pem_x509_crl(layout.crl.read_bytes())}


def test_a_modality_that_moves_can_also_serve_tls_one_that_only_sends_cannot(layout: HostLayout) -> None:
    inv = Inventory.load(layout.pki)
    ct = pki_lifecycle.issue_modality(layout, ca(layout), inv, "CT1")
    ws = pki_lifecycle.issue_modality(layout, ca(layout), inv, "WS1")
    assert ct.usages == ("clientAuth",)
    assert set(ws.usages) == {"serverAuth", "clientAuth"}  # C-MOVE destination over mutual TLS


def test_validity_above_398_days_is_refused(layout: HostLayout) -> None:
    with pytest.raises(ValueError, match="398"):
        pki.issue(ca(layout).signing_pair(), layout.pki, "x", "x", days=399, server=False)


def test_revoked_certificates_leave_the_edge_and_enter_the_crl(layout: HostLayout) -> None:
    inv = Inventory.load(layout.pki)
    ct = pki_lifecycle.issue_modality(layout, ca(layout), inv, "CT1")
    ws = pki_lifecycle.issue_modality(layout, ca(layout), inv, "WS1")
    assert [r.name for r in pki_lifecycle.revoke(inv, f"{ct.serial:x}")] == ["CT1"]
    pki_lifecycle.write_crl(layout, ca(layout), inv)
    assert crl_serials(layout) == {ct.serial}
    assert {c.fingerprint for c in edge_certificates(inv)} == {ws.fingerprint}
    assert pki_lifecycle.revoke(inv, "CT1") == []  # nothing left to revoke


def test_rotation_keeps_the_old_certificate_only_for_the_overlap(layout: HostLayout) -> None:
    inv = Inventory.load(layout.pki)
    old = pki_lifecycle.issue_modality(layout, ca(layout), inv, "CT1")
    new = pki_lifecycle.rotate_modality(layout, ca(layout), inv, "CT1", overlap_days=2)
    assert {r.serial for r in inv.active("CT1")} == {old.serial, new.serial}
    assert Path(new.cert) == layout.modality_dir / "CT1.crt" and Path(old.cert).exists()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    assert [r.serial for r in inv.active("CT1", later)] == [new.serial]
    old.retire_after = dt.datetime.now(dt.UTC).isoformat()  # the overlap is over
    pki_lifecycle.write_crl(layout, ca(layout), inv)
    assert old.serial in crl_serials(layout)


def test_listing_warns_30_days_ahead(layout: HostLayout) -> None:
    inv = Inventory.load(layout.pki)
    soon = pki.issue(
        ca(layout).signing_pair(),
        layout.modality_dir,
        "CT1",
        "CT1",
        days=40,
        server=False,
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=20),
    )
    inv.add(soon, "CT1", "modality")
    (row,) = pki_lifecycle.listing(inv)
    assert row["status"] == "expiring" and row["days_left"] < pki_lifecycle.WARN_DAYS


def test_inventory_round_trips(layout: HostLayout) -> None:
    inv = Inventory.load(layout.pki)
    rec = pki_lifecycle.issue_modality(layout, ca(layout), inv, "CT1")
    inv.save()
    assert Inventory.load(layout.pki).records == [rec]
    assert (layout.pki / "inventory.json").stat().st_mode & 0o777 == 0o600


def test_shared_ca_says_what_it_needs() -> None:
    with pytest.raises(pki_lifecycle.CaUnavailable, match="secretsmanager:GetSecretValue"):
        pki_lifecycle.SharedCa("prod").signing_pair()


def test_local_ca_missing_says_to_bring_the_stack_up(tmp_path: Path) -> None:
    with pytest.raises(pki_lifecycle.CaUnavailable, match="local up"):
        pki_lifecycle.LocalCa(tmp_path).signing_pair()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["pki", "list", "--stack", "prod"], "Secrets Manager"),
        (["pki", "issue", "CT9", "--days", "500"], "398"),
        (["pki", "issue", "CT9", "--rights", "echo,delete", "--host", "198.18.0.1"], "--rights"),
        (["pki", "issue", "CT9", "--rights", "echo", "--host", "198.18.0.1"], "local up"),
        (["pki", "revoke", "CT9"], "local up"),
    ],
)
def test_bad_pki_input_is_one_line_and_exit_code_2(args: list[str], fragment: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, [*args, "--state-dir", str(tmp_path)])
    assert res.exit_code == 2 and fragment in res.output and res.output.count("pacsguard: error:") == 1
    assert list(tmp_path.iterdir()) == []  # nothing half-done
