"""Orthanc's rendered configuration, option by option, and its version awareness."""

from __future__ import annotations

import dataclasses
import json

import pytest

from orthanc_config.profile import Database, HostProfile, Modality, ProfileError
from orthanc_config.render_orthanc import (
    OrthancPaths,
    OrthancSecrets,
    connection_uri,
    orthanc_settings,
    render_orthanc,
)

PATHS = OrthancPaths("/pki/server.crt", "/pki/server.key", "/pki/ca.crt", "/plugin/pacsguard_plugin.py")
PROFILE = HostProfile(
    name="t",
    mode="local",
    modalities=(
        Modality("CT1", "198.18.0.1", 104, ("echo", "store")),
        Modality("WS1", "198.18.0.1", 104, ("find", "move")),
    ),
    database=Database(ca_file="/pki/ca.crt"),
)


def cfg(profile: HostProfile = PROFILE) -> dict:
    return orthanc_settings(profile, PATHS)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("DicomTlsEnabled", False),  # TLS ends at nginx's DICOM edge (render_dicom_edge)
        ("DicomCheckCalledAet", True),
        ("StrictAetComparison", True),
        ("DicomCheckModalityHost", True),
        ("DicomAlwaysAllowEcho", False),
        ("DicomAlwaysAllowStore", False),
        ("DicomAlwaysAllowFind", False),
        ("DicomAlwaysAllowFindWorklist", False),
        ("DicomAlwaysAllowGet", False),
        ("DicomAlwaysAllowMove", False),
        ("UnknownSopClassAccepted", False),
        ("WebDavEnabled", False),
        ("WebDavUploadAllowed", False),
        ("ExecuteLuaEnabled", False),
        ("RestApiWriteToFileSystemEnabled", False),
        ("HttpDescribeErrors", False),
        ("RemoteAccessAllowed", False),
        ("AuthenticationEnabled", True),
        ("SslEnabled", False),
        ("MaximumStorageSize", 0),
        ("MaximumPatientCount", 0),
        ("DeidentifyLogs", True),
        ("LogExportedResources", True),
        ("DicomModalitiesInDatabase", False),
        ("OrthancExplorerEnabled", False),
    ],
)
def test_secure_option(option: str, value: object) -> None:
    assert cfg()[option] == value


def test_find_limits_from_profile() -> None:
    c = cfg(dataclasses.replace(PROFILE, find_limit=200))
    assert c["LimitFindResults"] == c["LimitFindInstances"] == 200


def test_plugins_listed_by_file_never_a_folder() -> None:
    for plugin in cfg()["Plugins"]:
        assert plugin.endswith(".so")
    assert "PythonScript" in cfg() and "Python" not in cfg()  # 4.0 ignores a nested section


def test_modality_rights_and_binding_to_its_own_edge_address() -> None:
    mods = cfg()["DicomModalities"]
    assert mods["CT1"]["AllowStore"] and not mods["CT1"]["AllowFind"]
    assert mods["WS1"]["AllowMove"] and not mods["WS1"]["AllowStore"] and not mods["WS1"]["AllowEcho"]
    # Each AE title is bound to the loopback address nginx binds for that modality's certificate only,
    # and Orthanc reaches the modality through nginx's relay there (TLS on the wire is nginx's).
    assert (mods["CT1"]["Host"], mods["WS1"]["Host"]) == ("127.0.64.1", "127.0.64.2")
    assert {m["Port"] for m in mods.values()} == {PROFILE.dicom_relay_port}
    assert not any(m["UseDicomTls"] for m in mods.values())


def test_orthanc_dicom_port_is_not_the_public_one() -> None:
    c = cfg()
    assert c["DicomPort"] == PROFILE.orthanc_dicom_port != PROFILE.dicom_port


def test_version_gated_options_only_for_later_orthanc() -> None:
    assert "MaximumStorageMode" not in cfg()
    assert cfg(dataclasses.replace(PROFILE, orthanc_version="1.12.11"))["MaximumStorageMode"] == "Reject"


def test_credentials_separate_and_group_readable_only() -> None:
    files = {
        f.path.rsplit("/", 1)[1]: f for f in render_orthanc(PROFILE, PATHS, OrthancSecrets("s3cr3t", {"admin": "pw"}))
    }
    main, creds = files["orthanc.json"], files["credentials.json"]
    assert "s3cr3t" not in main.content and "pw" not in json.loads(main.content).get("RegisteredUsers", {})
    assert (creds.mode, creds.owner, creds.group) == (0o640, "root", "orthanc")
    c = json.loads(creds.content)
    assert c["RegisteredUsers"] == {"admin": "pw"} and c["PostgreSQL"]["EnableIndex"] is True


def test_one_index_connection_so_parallel_stores_never_collide() -> None:
    # Four connections made parallel C-STOREs collide in PostgreSQL's serializable transactions; after Orthanc's
    # 10 retries a modality got 0xA700 for an instance it had sent (issue 18, benchmarks.query's populate).
    creds = json.loads(render_orthanc(PROFILE, PATHS, OrthancSecrets("s", {}))[1].content)
    assert creds["PostgreSQL"]["IndexConnectionsCount"] == 1
    assert creds["PostgreSQL"]["EnableIndex"] is True and "sslmode=verify-full" in creds["PostgreSQL"]["ConnectionUri"]


def test_index_connection_verifies_the_server_certificate() -> None:
    uri = connection_uri(PROFILE, "p@ss/word")
    assert "sslmode=verify-full" in uri and "sslrootcert=/pki/ca.crt" in uri
    assert "p%40ss%2Fword" in uri


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"dicom_aet": "bad aet"}, "dicom_aet"),
        ({"https_cidrs": ("10.0.0.1/8",)}, "https_cidrs"),
        ({"orthanc_version": "latest"}, "orthanc_version"),
        ({"modalities": (Modality("PACSGUARD", "198.18.0.1"),)}, "server's own AE"),
        ({"cert_validity_days": 399}, "cert_validity_days"),
        ({"orthanc_dicom_port": 2762}, "own port"),
        ({"dicom_first_pdu_timeout_s": 0}, "dicom_first_pdu_timeout_s"),
    ],
)
def test_profile_rejections_name_the_field(change: dict, fragment: str) -> None:
    with pytest.raises(ProfileError, match=fragment):
        dataclasses.replace(PROFILE, **change)


def test_modality_host_must_be_an_address() -> None:
    with pytest.raises(ProfileError, match="host"):
        Modality("CT1", "ct.example.org")


def test_profile_round_trips_through_json() -> None:
    assert HostProfile.from_dict(json.loads(PROFILE.to_json())) == PROFILE
