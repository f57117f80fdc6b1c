"""The local stack's index connection: Orthanc reaches its PostgreSQL cluster through a Unix-domain socket in a
directory only postgres and the orthanc group enter; the cluster has no TCP listener, and nothing widens the
firewall for it. An AWS host keeps RDS over TLS (verify-full)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from orthanc_config import local_postgres
from orthanc_config.layout import HostLayout
from orthanc_config.local_stack import LocalOptions, local_profile, status_document
from orthanc_config.profile import Database, HostProfile, ProfileError
from orthanc_config.render_nftables import render_nftables
from orthanc_config.render_orthanc import OrthancSecrets, connection_uri, credential_settings


def _local(tmp_path: Path) -> HostProfile:
    return local_profile(LocalOptions(name="idxunit", state_dir=tmp_path, subnet="198.19.124.0"))


def test_local_stack_reaches_its_index_through_the_socket_directory(tmp_path: Path) -> None:
    profile = _local(tmp_path)
    uri = credential_settings(profile, OrthancSecrets("pw/with@odd", {}))["PostgreSQL"]["ConnectionUri"]
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    assert query["host"] == [str(tmp_path / local_postgres.SOCKET_DIR)] and query["port"] == ["5432"]
    assert parts.hostname is None and parts.path == "/orthanc"  # no TCP host at all
    assert parts.password == "pw%2Fwith%40odd" and parts.username == "orthanc"  # SCRAM still signs the role in
    assert "sslmode" not in query  # a socket has no TLS: libpq would ignore it, and nothing may pretend otherwise


def test_an_index_over_tcp_still_verifies_the_server_certificate() -> None:
    profile = HostProfile(name="t", mode="aws", database=Database(host="db.example", ca_file="/pki/rds.pem"))
    uri = connection_uri(profile, "pw")
    assert uri.startswith("postgresql://orthanc:pw@db.example:5432/orthanc?")
    assert "sslmode=verify-full" in uri and "sslrootcert=/pki/rds.pem" in uri


def test_a_socket_directory_is_refused_for_an_aws_host() -> None:
    with pytest.raises(ProfileError, match=r"database\.host.*socket directory.*verify-full"):
        HostProfile(name="t", mode="aws", database=Database(host="/run/postgresql"))


def test_the_cluster_listens_on_no_tcp_address_and_admits_only_socket_sign_ins(tmp_path: Path) -> None:
    layout = HostLayout(_local(tmp_path))
    conf = local_postgres.postgres_conf(layout)
    assert "listen_addresses = ''" in conf.splitlines()
    assert f"unix_socket_directories = '{tmp_path / local_postgres.SOCKET_DIR}'" in conf
    assert "password_encryption = 'scram-sha-256'" in conf and "log_statement = 'none'" in conf
    rules = [ln.split() for ln in local_postgres.pg_hba(layout).splitlines() if ln and not ln.startswith("#")]
    assert rules == [["local", "all", "postgres", "peer"], ["local", "orthanc", "orthanc", "scram-sha-256"]]


def test_the_socket_directory_admits_postgres_and_the_orthanc_group_only() -> None:
    assert local_postgres.SOCKET_DIR_MODE == 0o750  # rwx owner (postgres), x for the orthanc group, nothing else


def test_a_socket_index_opens_no_egress_and_no_name_lookups() -> None:
    profile = HostProfile(name="t", mode="local", database=Database(host="/srv/pacsguard/postgres-run"))
    output = render_nftables(profile).split("chain output", 1)[1].split("chain forward", 1)[0]
    assert "dport 5432" not in output and "dport 53" not in output
    remote = dataclasses.replace(profile, database=dataclasses.replace(profile.database, host="db.example"))
    assert 'tcp dport 5432 accept comment "orthanc: database"' in render_nftables(remote)  # the check can fail


def test_status_names_the_socket_directory_for_the_posture_probes(tmp_path: Path) -> None:
    doc = status_document(LocalOptions(name="idxunit", state_dir=tmp_path, subnet="198.19.124.0"))
    assert doc["database_socket_dir"] == str(tmp_path / local_postgres.SOCKET_DIR)
    json.dumps(doc)
