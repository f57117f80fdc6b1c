"""Synthesis imports only the pulumi-aws modules the program uses, and gets exactly the graph a full import gets."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

from infra.synth_imports import module_candidates

ROOT = Path(__file__).resolve().parents[2]
SYNTHESISE = r"""
import json, sys
if sys.argv[1] == "full":
    import pulumi_aws  # imported before the finder exists: every service package is the generated one
from infra.synth import synthesize
graph = synthesize("prod").to_json()
import pulumi_aws.ec2 as ec2
facts = {
    "modules": sorted(m for m in sys.modules if m.startswith("pulumi_aws")),
    "vpn_before": "VpnConnection" in vars(ec2),
}
namespace = {}
exec("from pulumi_aws.ec2 import *", namespace)
facts["star_has_vpn"] = "VpnConnection" in namespace
facts["dir_has_vpn"] = "VpnConnection" in dir(ec2)
import pulumi_aws.wafv2._inputs as waf_inputs
facts["waf_classes"] = [sum(n in vars(waf_inputs) for n in waf_inputs.__all__), len(waf_inputs.__all__)]
facts["rule_group_before"] = "RuleGroupRuleArgs" in vars(waf_inputs)
exec("from pulumi_aws.wafv2._inputs import *", namespace)
facts["star_has_rule_group"] = "RuleGroupRuleArgs" in namespace
try:
    ec2.NoSuchResource
    facts["unknown"] = "found"
except AttributeError:
    facts["unknown"] = "AttributeError"
print(json.dumps({"graph": graph, "facts": facts}, sort_keys=True))
"""


@cache  # one synthesis per mode for the module's tests (each is a fresh interpreter of a few seconds)
def _run(mode: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", SYNTHESISE, mode], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_the_graph_is_the_one_a_full_import_gives_from_a_third_of_the_modules() -> None:
    full, lazy = _run("full"), _run("lazy")
    by_urn = sorted(full["graph"], key=lambda r: r["urn"])  # registration order follows asyncio's scheduling
    assert sorted(lazy["graph"], key=lambda r: r["urn"]) == by_urn
    assert len(lazy["facts"]["modules"]) * 2 < len(full["facts"]["modules"]), "the finder did not take effect"
    assert "pulumi_aws.ec2.vpn_connection" not in lazy["facts"]["modules"]
    assert not lazy["facts"]["vpn_before"], "a service package ran its whole __init__ during synthesis"
    # Afterwards the package still offers every name, to `import *` and dir() alike, and nothing it lacks.
    assert lazy["facts"]["star_has_vpn"] and lazy["facts"]["dir_has_vpn"]
    assert lazy["facts"]["unknown"] == "AttributeError"


def test_the_graph_is_the_one_a_full_import_gives_from_a_tenth_of_a_shared_module_s_classes() -> None:
    full, lazy = _run("full"), _run("lazy")
    assert sorted(lazy["graph"], key=lambda r: r["urn"]) == sorted(full["graph"], key=lambda r: r["urn"])
    defined, declared = lazy["facts"]["waf_classes"]
    assert full["facts"]["waf_classes"] == [declared, declared]
    assert defined * 10 < declared, "wafv2's _inputs ran whole (the slices did not take effect)"
    assert not lazy["facts"]["rule_group_before"] and full["facts"]["rule_group_before"]
    assert lazy["facts"]["star_has_rule_group"], "import * still gets every class"


def test_names_map_to_the_modules_pulumi_generates() -> None:
    assert module_candidates("BucketV2")[0] == "bucket_v2"
    assert module_candidates("VpcIpv4CidrBlockAssociationArgs")[:2] == [
        "vpc_ipv4_cidr_block_association_args",
        "vpc_ipv4_cidr_block_association",
    ]
    assert "get_ami" in module_candidates("AwaitableGetAmiResult")
    assert "get_ami" in module_candidates("get_ami_output")
    assert module_candidates("SecurityGroupState")[-3:] == ["_inputs", "outputs", "_enums"]
