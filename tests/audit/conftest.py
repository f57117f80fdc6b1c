"""A moto server on 127.0.0.1 (free port), reset between tests; clients and an auditor bound to it, and the
fixture account (tests/audit/account.py) built once per session and restored for each test that asks for it."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest

if TYPE_CHECKING:
    from tests.audit.snapshot import MotoSnapshot

REGION = "eu-central-1"
# AWS-managed policies (AdministratorAccess) exist only when moto loads them, which it decides when an account's IAM
# backend is first created: set at collection, before any test (other suites' in-process mocks included) touches IAM.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield moto_url
    from tests.audit.snapshot import drop_state

    drop_state()  # the server runs in this process: its state is dropped in place (snapshot.py says why)


class Clients:
    def __init__(self, url: str, region: str = REGION) -> None:
        self.url, self.region = url, region

    def __call__(self, service: str, region: str | None = None) -> Any:
        from policies.cloud.api import strip_account_host_prefix

        client = boto3.client(service, endpoint_url=self.url, region_name=region or self.region,
                              aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
        if service == "s3control":
            strip_account_host_prefix(client, self.url)
        return client


@pytest.fixture
def clients(moto: str) -> Clients:
    return Clients(moto)


@pytest.fixture(scope="session")
def _built_account(moto_url: str) -> tuple[MotoSnapshot, dict[str, Any]]:
    """The good prod account, built once over the API (~30 s on 2 cores) and kept as a snapshot of moto's state."""
    from tests.audit.account import build
    from tests.audit.snapshot import MotoSnapshot, drop_state

    drop_state()
    ids = build(Clients(moto_url))
    snapshot = MotoSnapshot()
    drop_state()
    return snapshot, ids


@pytest.fixture
def account(moto: str, _built_account: tuple[MotoSnapshot, dict[str, Any]]) -> dict[str, Any]:
    """A fresh copy of the good prod account on the (reset) moto server; the names and ids build() returned.
    Each test gets its own copy and the `moto` fixture resets the server afterwards, so tests cannot leak state."""
    snapshot, ids = _built_account
    snapshot.restore()
    return copy.deepcopy(ids)
