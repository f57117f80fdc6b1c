"""Run the Pulumi program offline under the SDK's mocks and capture the resource graph.

No CLI, no cloud, no credentials: this is what `pacsguard plan` and the tests inspect.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pmocks
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import synth_imports, synth_sdk
from infra.synth_gc import paused_gc
from infra.synth_model import CapturedResource, Synthesis
from stacks.loader import PROJECT, STACKS_DIR, load_settings, pulumi_config_map, read_stack_config

synth_imports.install()  # before pulumi_aws' first import (infra.stack), so synthesis loads only what it uses

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_aws.*")

FAKE_ACCOUNT = "123456789012"


class _StackMocks(pmocks.Mocks):
    """Answers the invokes the program makes and gives each resource the attributes AWS would compute."""

    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid = f"{args.name}-id"
        service = args.typ.split(":")[1].split("/")[0]
        outputs = dict(args.inputs)
        outputs.setdefault("arn", f"arn:aws:{service}:{self.region}:{FAKE_ACCOUNT}:{args.name}")
        outputs.setdefault("name", args.name)
        if args.typ == "aws:s3/bucket:Bucket":
            outputs["bucket"] = f"{args.inputs.get('bucketPrefix', args.name)}0001"
            outputs["arn"] = f"arn:aws:s3:::{outputs['bucket']}"
            rid = outputs["bucket"]
        elif args.typ == "aws:kms/key:Key":
            outputs["keyId"] = f"key-{args.name}"
            outputs["arn"] = f"arn:aws:kms:{self.region}:{FAKE_ACCOUNT}:key/{args.name}"
        elif args.typ == "aws:rds/instance:Instance":
            outputs["endpoint"] = f"{args.inputs.get('identifier', args.name)}.db.example:5432"
            secret = f"arn:aws:secretsmanager:{self.region}:{FAKE_ACCOUNT}:secret:rds!db-{args.name}"
            outputs["masterUserSecrets"] = [{"secretArn": secret}]
        elif args.typ == "aws:secretsmanager/secret:Secret":
            outputs["name"] = args.inputs.get("name") or f"{args.inputs.get('namePrefix', args.name)}0001"
            # A partial ARN (no random suffix): AWS and moto accept it wherever a SecretId is expected.
            outputs["arn"] = f"arn:aws:secretsmanager:{self.region}:{FAKE_ACCOUNT}:secret:{outputs['name']}"
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs["arn"] = f"arn:aws:logs:{self.region}:{FAKE_ACCOUNT}:log-group:{args.inputs.get('name')}"
        elif args.typ == "aws:ec2/vpc:Vpc":
            outputs.setdefault("cidrBlock", args.inputs.get("cidrBlock"))
        elif args.typ == "aws:acm/certificate:Certificate":
            domain = args.inputs.get("domainName")
            outputs["domainValidationOptions"] = [
                {
                    "domainName": domain,
                    "resourceRecordName": f"_0123456789abcdef.{domain}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": "_fedcba9876543210.acm-validations.aws.",
                }
            ]
        elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
            outputs["dnsName"] = f"internal-{args.name}-1.{self.region}.elb.amazonaws.com"
            outputs["zoneId"] = "ZMOCKELBZONE"  # AWS's per-region canonical hosted zone of load balancers
        elif args.typ == "aws:route53/record:Record":
            outputs["fqdn"] = str(args.inputs.get("name", "")).rstrip(".")
        elif args.typ == "aws:ec2/vpcEndpoint:VpcEndpoint" and args.inputs.get("vpcEndpointType") == "Gateway":
            outputs["prefixListId"] = "pl-6ea54007"
        return rid, outputs

    def call(self, args: pmocks.MockCallArgs) -> dict[str, Any]:
        zones = [f"{self.region}{z}" for z in "abc"]
        answers: dict[str, dict[str, Any]] = {
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": FAKE_ACCOUNT,
                "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:user/plan",
                "userId": "plan",
            },
            "aws:index/getPartition:getPartition": {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "id": "aws",
            },
            "aws:index/getRegion:getRegion": {"name": self.region, "region": self.region, "id": self.region},
            "aws:index/getAvailabilityZones:getAvailabilityZones": {
                "names": zones,
                "zoneIds": [f"z{i}" for i in range(3)],
                "id": self.region,
            },
            # A fresh account: no Auto Scaling service-linked role yet, so the plan shows the stack creating it.
            "aws:iam/getRoles:getRoles": {"arns": [], "names": [], "id": "roles"},
            # The region's S3 gateway prefix list (these are eu-central-1's networks, as AWS lists them).
            "aws:ec2/getManagedPrefixList:getManagedPrefixList": {
                "id": "pl-6ea54007",
                "name": f"com.amazonaws.{self.region}.s3",
                "addressFamily": "IPv4",
                "maxEntries": 0,
                "ownerId": "AWS",
                "entries": [
                    {"cidr": c, "description": ""}
                    for c in ("3.5.134.0/23", "3.5.136.0/22", "52.219.72.0/22", "52.219.140.0/24", "52.219.168.0/24")
                ],
            },
            "aws:ec2/getAmi:getAmi": {
                "id": "ami-0debian12offline",
                "name": "debian-12-amd64-20261101-0",
                "architecture": "x86_64",
            },
        }
        return answers.get(args.token, {})


class _CapturingMonitor(pmocks.MockMonitor):
    def __init__(self, mocks: pmocks.Mocks) -> None:
        super().__init__(mocks)
        self.captured: list[CapturedResource] = []

    def _provider_region(self, provider_ref: str) -> str | None:
        """The region of an explicit provider (a reference is '<urn>::<id>'); None for the default provider."""
        urn = provider_ref.rsplit("::", 1)[0] if provider_ref else ""
        match = next((r for r in self.captured if r.urn == urn), None)
        return match.inputs.get("region") if match else None

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            urn = response.urn
            inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
            state = self.resources.get(urn)
            self.captured.append(
                CapturedResource(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    parent=request.parent,
                    inputs=_plain(inputs),
                    protect=bool(request.protect),
                    custom=bool(request.custom),
                    outputs=_plain(state.state) if state else {},
                    property_dependencies={k: sorted(v.urns) for k, v in request.propertyDependencies.items()},
                    provider_region=self._provider_region(request.provider),
                    dependencies=sorted(set(request.dependencies)),
                    ignore_changes=list(request.ignoreChanges),
                )
            )
        return response


def synthesize(stack: str, stacks_dir: Path = STACKS_DIR) -> Synthesis:
    """Synthesise `stack` from its YAML and return every registered resource (SettingsError if invalid)."""
    with paused_gc(), synth_sdk.without_source_positions():
        from infra.stack import build

        config = read_stack_config(stack, stacks_dir)
        settings = load_settings(stack, stacks_dir)
        monitor = _CapturingMonitor(_StackMocks(settings.region))
        pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
        pulumi.runtime.set_all_config(pulumi_config_map(config))
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        _sync_await(run_pulumi_func(lambda: build(settings)))
        # The mocks answer registrations concurrently, so the capture order differs from run to run; URN order
        # makes two plans of the same program diff clean (resources, findings, SARIF) for a CI that compares them.
        return Synthesis(stack=stack, settings=settings, resources=sorted(monitor.captured, key=lambda r: r.urn))


_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (the SDK's secret marker, not a secret)


def _plain(value: Any) -> Any:
    """Unwrap secret markers and turn SDK values into JSON-friendly data; ints arrive as floats."""
    if isinstance(value, dict):
        if value.get("4dabf18193072939515e22adb298388d") == _SECRET_SIG:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return f"<{type(value).__name__}>"
    return str(value)
