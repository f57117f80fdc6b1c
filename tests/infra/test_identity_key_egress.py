"""Sign-in and machine tokens keep working with hosts.package_egress: closed.

The ALB's signing keys and the user pool's JWKS have no VPC endpoint. Before, the hosts' only internet HTTPS was
the package window and Orthanc itself fetched the keys: closing the window (as NET-HOST-EGRESS advises) broke every
sign-in. Now one labelled 443 rule stays; closed, the host firewall lets only the identity-key service's user past
the VPC and the S3 prefix list.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from infra.hosts import alb_key_url
from infra.synth import Synthesis, synthesize
from orthanc_config import identity_keys
from orthanc_config.bootstrap import plugin_config
from orthanc_config.layout import HostLayout
from orthanc_config.profile import HostProfile
from orthanc_config.render_nftables import egress_rules
from orthanc_config.systemd_units import identity_key_units
from policies.graph import PlanGraph
from policies.host_profile import profile_of
from stacks.loader import read_stack_config

EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


@pytest.fixture(scope="module")
def closed_prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    cfg = copy.deepcopy(read_stack_config("prod"))
    cfg["pacsguard:hosts"] = {**cfg["pacsguard:hosts"], "package_egress": "closed"}
    folder = tmp_path_factory.mktemp("stacks")
    (folder / "Pulumi.closedprod.yaml").write_text(yaml.safe_dump({"config": cfg}))
    return synthesize("closedprod", Path(folder))


def _host_profile(s: Synthesis) -> HostProfile:
    return profile_of(next(r for r in PlanGraph.from_synthesis(s).resources if r.name == "hosts-lt"))


def test_closed_prod_keeps_exactly_one_labelled_internet_https_rule(closed_prod: Synthesis) -> None:
    hosts = [r for r in closed_prod.of_type(EGRESS) if r.inputs["securityGroupId"] == "hosts-sg-id"]
    internet = [r for r in hosts if r.inputs.get("cidrIpv4") == "0.0.0.0/0" or r.inputs.get("cidrIpv6")]
    assert len(internet) == 1
    rule = internet[0].inputs
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert rule["tags"]["pacsguard:purpose"] == "identity-keys"
    # Everything else names its destination: a group, a prefix list or one address.
    for r in hosts:
        if r is not internet[0]:
            cidr = r.inputs.get("cidrIpv4") or ""
            assert r.inputs.get("referencedSecurityGroupId") or r.inputs.get("prefixListId") or cidr.endswith("/32")


def test_closed_prod_passes_the_host_egress_control(closed_prod: Synthesis) -> None:
    from policies.evaluate import evaluate

    findings = [f for f in evaluate(PlanGraph.from_synthesis(closed_prod)) if f.control == "NET-HOST-EGRESS"]
    assert findings and all(f.status == "pass" for f in findings), findings


def test_closed_prod_host_lets_only_the_key_service_out_on_443(closed_prod: Synthesis, tmp_path: Path) -> None:
    profile = _host_profile(closed_prod)
    assert profile.jwt_key_url == f"https://public-keys.auth.elb.{closed_prod.settings.region}.amazonaws.com/{{kid}}"
    rules = egress_rules(profile, ("10.0.0.2",))
    https = [r for r in rules if "dport 443" in r and " accept " in r]
    assert https == [
        f'meta skuid "{identity_keys.USER}" tcp dport 443 accept comment "identity keys: load balancer keys, '
        'user pool JWKS"'
    ]
    # Orthanc's own egress ends in a reject before any key-service rule: it has no way out on 443.
    assert not [r for r in rules if 'skuid "orthanc"' in r and "443" in r]
    layout = HostLayout(profile)
    section = json.loads(plugin_config(layout, {}).content)["PACSGuard"]
    assert section["JwtKeyUrl"] == f"unix:{identity_keys.SOCKET}"  # the plugin asks the service, not the internet
    (unit,) = identity_key_units(layout)
    assert f"--user {identity_keys.USER}" in unit.content and profile.jwt_key_url in unit.content


def test_machine_clients_keys_come_from_the_key_service(dev: Synthesis) -> None:
    profile = _host_profile(dev)
    assert profile.machine_clients and profile.machine_jwks.startswith("https://")
    section = json.loads(plugin_config(HostLayout(profile), {}).content)["PACSGuard"]
    assert section["Machine"]["Jwks"] == f"unix:{identity_keys.SOCKET}"
    (unit,) = identity_key_units(HostLayout(profile))
    assert f'--jwks-url "{profile.machine_jwks}"' in unit.content


def test_govcloud_hosts_fetch_alb_keys_from_awss_s3_form() -> None:
    assert alb_key_url("aws-us-gov", "us-gov-west-1") == (
        "https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1/{kid}"
    )
    assert alb_key_url("aws", "eu-central-1") == "https://public-keys.auth.elb.eu-central-1.amazonaws.com/{kid}"


def test_closed_prod_host_profile_carries_the_vpc_and_s3_networks_and_blocks_other_https(
    closed_prod: Synthesis,
) -> None:
    """Finding 2: the profile a closed stack's host renders from names where everyone but the key service may still
    go on 443 (the VPC's interface endpoints, the S3 gateway endpoint's prefix list, read at deploy time)."""
    profile = _host_profile(closed_prod)
    assert profile.package_egress == "closed"
    assert profile.https_egress_cidrs[0] == str(closed_prod.settings.vpc_cidr)
    assert "3.5.136.0/22" in profile.https_egress_cidrs  # from the mocked com.amazonaws.<region>.s3 prefix list
    closed = [r for r in egress_rules(profile, ("10.0.0.2",)) if "package window closed" in r]
    assert closed and all(r.startswith(f'meta skuid != "{identity_keys.USER}"') for r in closed)
    assert all(c in closed[0] for c in profile.https_egress_cidrs)


def test_open_stack_keeps_the_package_window_on_the_host(dev: Synthesis) -> None:
    profile = _host_profile(dev)
    assert profile.package_egress == "open"
    assert not [r for r in egress_rules(profile, ("10.0.0.2",)) if "package window closed" in r]
