"""What a real `pulumi up` needs that the SDK mocks never check: each test is one defect AWS (or a user) would hit."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
from pathlib import Path

import pytest
import yaml

from infra import synth as synth_module
from infra.lb_subnets import load_balancer_cidrs
from infra.synth import FAKE_ACCOUNT, CapturedResource, Synthesis, synthesize
from orthanc_config.profile import HostProfile
from orthanc_config.render_nftables import render_nftables
from pacsguard.inventory import plan_document
from policies.graph import PlanGraph
from policies.host_profile import profile_of
from stacks.loader import read_stack_config
from tests.infra.graph import BUCKET, named, policy, statements

KEY = "aws:kms/key:Key"


def _graph_res(s: Synthesis, name: str):
    return next(r for r in PlanGraph.from_synthesis(s).resources if r.name == name)


def _waits_for(s: Synthesis, name: str, other: str) -> bool:
    g = PlanGraph.from_synthesis(s)
    return g.created_after(_graph_res(s, name), _graph_res(s, other))


@pytest.fixture(scope="module")
def organisation(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """prod in an account whose organisation already runs GuardDuty, Config, Security Hub and the ASG role."""
    cfg = copy.deepcopy(read_stack_config("prod"))
    cfg["pacsguard:account"] = {
        "guardduty": "existing",
        "config": "existing",
        "security_hub": "existing",
        "autoscaling_service_role": "existing",
    }
    cfg["pacsguard:connectivity"] = {"vpn_gateway_id": "vgw-0a1b2c3d4e5f60718"}
    # One host on an EBS image volume, packages baked into its image: no package window.
    cfg["pacsguard:hosts"] = {**cfg["pacsguard:hosts"], "count": 1, "package_egress": "closed"}
    cfg["pacsguard:storage"] = {**cfg["pacsguard:storage"], "mode": "ebs"}
    folder = tmp_path_factory.mktemp("stacks")
    (folder / "Pulumi.orgprod.yaml").write_text(yaml.safe_dump({"config": cfg}))
    return synthesize("orgprod", Path(folder))


# 2: a creatable RDS version that stays patched
def test_database_is_a_major_version_patched_automatically(stack: Synthesis) -> None:
    db = named(stack, "aws:rds/instance:Instance", "database-index").inputs
    assert db["engineVersion"] == "16" and db["autoMinorVersionUpgrade"] is True
    assert named(stack, "aws:rds/parameterGroup:ParameterGroup", "database-params").inputs["family"] == "postgres16"


# 3: the service-linked role exists before the key policy names it
def test_images_key_waits_for_the_autoscaling_service_linked_role(stack: Synthesis) -> None:
    (role,) = stack.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert role.inputs["awsServiceName"] == "autoscaling.amazonaws.com"
    assert "AWSServiceRoleForAutoScaling" in named(stack, KEY, "keys-images").inputs["policy"]
    assert role.urn in named(stack, KEY, "keys-images").dependencies


def test_existing_service_linked_role_is_not_created_again(organisation: Synthesis) -> None:
    assert organisation.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole") == []
    assert named(organisation, KEY, "keys-images").inputs["tags"]["pacsguard:service-linked-role"] == "existing"


# 4: account singletons an organisation already runs are not created a second time
def test_existing_account_services_create_nothing(organisation: Synthesis) -> None:
    for typ in (
        "aws:guardduty/detector:Detector",
        "aws:cfg/recorder:Recorder",
        "aws:cfg/deliveryChannel:DeliveryChannel",
        "aws:securityhub/account:Account",
    ):
        assert organisation.of_type(typ) == [], typ
    # Rules still run on the organisation's recorder.
    assert organisation.of_type("aws:cfg/rule:Rule")


def test_created_account_services_exist_in_prod(prod: Synthesis) -> None:
    assert prod.of_type("aws:guardduty/detector:Detector") and prod.of_type("aws:cfg/recorder:Recorder")
    assert prod.of_type("aws:securityhub/account:Account")


# 5: S3 refuses a server access log destination with object lock
def test_access_log_sink_has_no_object_lock_but_keeps_retention_by_lifecycle(stack: Synthesis) -> None:
    sink = named(stack, BUCKET, "storage-accesslogs")
    assert not sink.inputs.get("objectLockEnabled")
    assert not [
        r
        for r in stack.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
        if r.name.startswith("storage-accesslogs")
    ]
    rules = named(
        stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "storage-accesslogs-lifecycle"
    ).inputs["rules"]
    assert {"days": stack.settings.effective_log_retention} in [r.get("expiration") for r in rules]
    versioning = named(stack, "aws:s3/bucketVersioning:BucketVersioning", "storage-accesslogs-versioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"


# AWS Config refuses a delivery channel to a bucket with object lock (AWS::Config::DeliveryChannel)
def test_config_delivers_to_its_own_bucket_without_object_lock(prod: Synthesis) -> None:
    channel = named(prod, "aws:cfg/deliveryChannel:DeliveryChannel", "detection-config-delivery-channel")
    bucket = named(prod, BUCKET, "storage-config")
    assert channel.inputs["s3BucketName"] == bucket.outputs["bucket"]
    assert not bucket.inputs.get("objectLockEnabled")
    assert not [
        r
        for r in prod.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
        if r.name.startswith("storage-config")
    ]
    enc = named(prod, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "storage-config-encryption").inputs["rules"][0]["applyServerSideEncryptionByDefault"]  # fmt: skip
    assert enc["sseAlgorithm"] == "aws:kms" and channel.inputs["s3KmsKeyArn"] == enc["kmsMasterKeyId"]
    rules = named(
        prod, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "storage-config-lifecycle"
    ).inputs["rules"]
    assert {"days": prod.settings.effective_log_retention} in [r.get("expiration") for r in rules]

    def sids(name: str) -> set[str]:
        return {st.get("Sid") for st in statements(policy(named(prod, "aws:s3/bucketPolicy:BucketPolicy", name)))}

    assert {"ConfigAclCheck", "ConfigWrite", "DenyInsecureTransport"} <= sids("storage-config-policy")
    assert not {"ConfigAclCheck", "ConfigWrite"} & sids("storage-logs-policy")


@pytest.mark.parametrize("source", ["storage-archive", "storage-logs", "storage-config"])
def test_bucket_logging_waits_for_the_destination_policy(stack: Synthesis, source: str) -> None:
    logging = named(stack, "aws:s3/bucketLogging:BucketLogging", f"{source}-access-logging")
    assert named(stack, "aws:s3/bucketPolicy:BucketPolicy", "storage-accesslogs-policy").urn in logging.dependencies


# ordering AWS checks at create time
@pytest.mark.parametrize(
    ("resource", "first"),
    [
        ("web-alb", "storage-accesslogs-policy"),
        ("trail-trail", "storage-logs-policy"),
        ("trail-trail", "trail-to-logs-write"),
        ("network-flow-log", "network-flow-logs-write"),
        ("detection-config-delivery-channel", "storage-config-policy"),
        ("detection-config-delivery-channel", "detection-config-delivery"),
        ("detection-config-delivery-channel", "detection-config-managed"),
    ],
)
def test_delivery_resources_wait_for_their_policies(prod: Synthesis, resource: str, first: str) -> None:
    assert _waits_for(prod, resource, first)


def test_plan_json_lists_each_resources_dependencies(prod: Synthesis) -> None:
    doc = json.loads(json.dumps(plan_document(prod, [])))
    trail = next(r for r in doc["resources"] if r["name"] == "trail-trail")
    policy_urn = named(prod, "aws:s3/bucketPolicy:BucketPolicy", "storage-logs-policy").urn
    assert policy_urn in trail["depends_on"]
    assert all(isinstance(r["depends_on"], list) for r in doc["resources"])


# 8: replies to hospital networks go back through the transit gateway (or VPN), not the NAT
def test_private_route_tables_route_hospital_networks_through_the_transit_gateway(prod: Synthesis) -> None:
    tgw = prod.settings.connectivity.transit_gateway_id
    (attachment,) = prod.of_type("aws:ec2transitgateway/vpcAttachment:VpcAttachment")
    assert attachment.inputs["transitGatewayId"] == tgw
    routes = [r for r in prod.of_type("aws:ec2/route:Route") if r.inputs.get("transitGatewayId") == tgw]
    tables = {r.inputs["routeTableId"] for r in routes}
    assert len(tables) == prod.settings.availability_zones
    for table in tables:
        dests = {r.inputs["destinationCidrBlock"] for r in routes if r.inputs["routeTableId"] == table}
        assert dests == {str(n) for n in prod.settings.client_networks}
    assert all(attachment.urn in r.dependencies for r in routes)


def test_vpn_gateway_is_the_other_way_in(organisation: Synthesis) -> None:
    routes = [
        r for r in organisation.of_type("aws:ec2/route:Route") if r.inputs.get("gatewayId") == "vgw-0a1b2c3d4e5f60718"
    ]
    assert routes and organisation.of_type("aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment")


# 9 and 11: the host firewall admits the load balancer subnets; nginx trusts only them for X-Forwarded-For
def test_host_profile_admits_the_load_balancer_subnets(stack: Synthesis) -> None:
    g = PlanGraph.from_synthesis(stack)
    profile = profile_of(next(r for r in g.resources if r.name == "hosts-lt"))
    lb_subnets = set(load_balancer_cidrs(stack.settings))
    assert set(profile.lb_cidrs) == lb_subnets
    nft = render_nftables(profile)
    for port in (profile.dicom_port, profile.https_port):
        line = next(ln for ln in nft.splitlines() if f"dport {port} accept" in ln and "ip saddr" in ln)
        assert all(c in line for c in lb_subnets), line
    nlb_subnets = {
        str(sn.inputs["cidrBlock"])
        for sn in stack.of_type("aws:ec2/subnet:Subnet")
        if f"{sn.name}-id" in named(stack, "aws:lb/loadBalancer:LoadBalancer", "dicom-nlb").inputs["subnets"]
    }
    assert nlb_subnets <= lb_subnets


def test_nftables_without_load_balancers_admits_only_the_listed_networks() -> None:
    nft = render_nftables(HostProfile(name="t", mode="local", modality_cidrs=("10.1.0.0/24",)))
    assert "10.40." not in nft and "10.1.0.0/24" in nft


# 10: C-MOVE destinations are reachable, and only on their own address and port
def test_move_destinations_get_egress_to_their_address_and_port(prod: Synthesis) -> None:
    movers = [m for m in prod.settings.dicom.modalities if "move" in m.rights]
    assert movers
    rules = [
        r.inputs
        for r in prod.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.name.startswith("hosts-egress-move-")
    ]
    assert sorted((r["cidrIpv4"], r["fromPort"], r["toPort"]) for r in rules) == sorted(
        (f"{m.host}/32", m.port, m.port) for m in movers
    )


# 12: RDS snapshot copies use the backups key through RDS
def test_backup_keys_admit_rds_snapshot_copies(prod: Synthesis) -> None:
    keys = [k for k in prod.of_type(KEY) if k.inputs["tags"]["pacsguard:key"] == "backups"]
    assert {k.inputs["tags"]["pacsguard:region"] for k in keys} == {"eu-central-1", "eu-west-1"}
    for key in keys:
        region = key.inputs["tags"]["pacsguard:region"]
        via = {
            v
            for st in statements(policy(key))
            for v in st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", [])
        }
        assert f"rds.{region}.amazonaws.com" in via


# 14: the PHI archive is write-once in GOVERNANCE mode (erasure stays possible, deliberately)
def test_phi_archive_has_governance_object_lock(stack: Synthesis) -> None:
    assert named(stack, BUCKET, "storage-archive").inputs["objectLockEnabled"] is True
    lock = named(
        stack, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "storage-archive-object-lock"
    )
    assert lock.inputs["rule"]["defaultRetention"] == {
        "mode": "GOVERNANCE",
        "days": stack.settings.storage.object_lock_days,
    }
    # S3 refuses a PutObject into a locked bucket without a checksum.
    assert named(stack, "aws:s3/bucketObjectv2:BucketObjectv2", "hosts-bundle").inputs["checksumAlgorithm"] == "SHA256"


# 15: endpoint policies admit only the stack's own resources; hosts reach AWS through them
def _endpoint_doc(s: Synthesis, svc: str) -> dict:
    return json.loads(named(s, "aws:ec2/vpcEndpoint:VpcEndpoint", f"network-{svc}").inputs["policy"])


def test_every_endpoint_has_a_policy_for_this_account_only(stack: Synthesis) -> None:
    from infra.endpoint_services import POLICY_SERVICES

    with_policy = [e for e in stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs.get("policy")]
    assert {e.inputs["serviceName"].rsplit(".", 1)[-1] for e in with_policy} == set(POLICY_SERVICES) - {"ec2"}
    for ep in with_policy:
        doc = json.loads(ep.inputs["policy"])
        for st in doc["Statement"]:
            if st["Sid"] == "SsmAgentBuckets":  # AWS-owned buckets: read-only, checked below
                continue
            assert st["Condition"]["StringEquals"]["aws:PrincipalAccount"] == "123456789012", ep.name


def test_s3_endpoint_reaches_only_the_stacks_buckets(stack: Synthesis) -> None:
    doc = _endpoint_doc(stack, "s3")
    own = next(st for st in doc["Statement"] if st["Sid"] == "StackBuckets")
    prefix = f"pacsguard-{stack.stack}"
    assert own["Resource"] == [f"arn:aws:s3:::{prefix}-*", f"arn:aws:s3:::{prefix}-*/*"]
    for b in stack.of_type(BUCKET):
        assert b.outputs["bucket"].startswith(f"{prefix}-")
    others = [st for st in doc["Statement"] if st["Sid"] != "StackBuckets"]
    assert all(st["Action"] == ["s3:GetObject"] for st in others)  # AWS-owned SSM agent buckets, read only


def test_kms_endpoint_reaches_only_keys_tagged_with_this_stack(stack: Synthesis) -> None:
    (st,) = _endpoint_doc(stack, "kms")["Statement"]
    assert st["Condition"]["StringEquals"]["aws:ResourceTag/pacsguard:stack"] == stack.stack


def test_ebs_hosts_attach_their_volume_through_an_ec2_endpoint(organisation: Synthesis, prod: Synthesis) -> None:
    ec2 = [
        e for e in organisation.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["serviceName"].endswith(".ec2")
    ]
    assert len(ec2) == 1 and json.loads(ec2[0].inputs["policy"])["Statement"][0]["Condition"]
    assert not [e for e in prod.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["serviceName"].endswith(".ec2")]


def test_closed_package_window_leaves_hosts_only_the_identity_key_rule(organisation: Synthesis) -> None:
    """With package egress closed, sign-in still needs the ALB's key endpoint and machine tokens the pool's JWKS,
    which no VPC endpoint serves: one labelled 443 rule stays (the host lets only its key service use it)."""
    egress = [
        r
        for r in organisation.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == "hosts-sg-id"
    ]
    world = [r for r in egress if r.inputs.get("cidrIpv4") == "0.0.0.0/0" or r.inputs.get("cidrIpv6")]
    assert [(r.name, r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) for r in world] == [
        ("hosts-egress-internet-https", "tcp", 443, 443)
    ]
    assert world[0].inputs["tags"]["pacsguard:purpose"] == "identity-keys"
    assert "package window" not in world[0].inputs["description"].lower()


def test_every_client_network_is_private_and_outside_the_vpc(prod: Synthesis) -> None:
    for net in prod.settings.client_networks:
        assert net.is_private and not net.overlaps(ipaddress.ip_network(str(prod.settings.vpc_cidr)))


def test_captured_dependencies_include_explicit_depends_on(prod: Synthesis) -> None:
    alb: CapturedResource = named(prod, "aws:lb/loadBalancer:LoadBalancer", "web-alb")
    assert named(prod, "aws:s3/bucketPolicy:BucketPolicy", "storage-accesslogs-policy").urn in alb.dependencies


def test_plan_still_judges_services_the_organisation_runs(organisation: Synthesis) -> None:
    from policies.evaluate import evaluate

    findings = evaluate(PlanGraph.from_synthesis(organisation))
    assert [f for f in findings if f.status in ("fail", "error")] == []
    for control, service in (("AUD-GUARDDUTY", "guardduty"), ("AUD-CONFIG", "config")):
        (f,) = [f for f in findings if f.control == control]
        assert f.status == "skipped" and f"account.{service}: existing" in f.message and "pacsguard audit" in f.message
    # Without the setting, a missing detector is a failure, not a skip.
    bare = PlanGraph(PlanGraph.from_synthesis(organisation).resources)
    assert {f.status for f in evaluate(bare) if f.control == "AUD-GUARDDUTY"} == {"fail"}


@pytest.mark.parametrize("source", ["0.0.0.0/1", "8.8.8.0/24", "10.0.0.0/8", "192.0.2.0/24"])
def test_dicom_open_to_a_public_or_wide_network_fails_the_plan(prod: Synthesis, source: str) -> None:
    from policies.evaluate import evaluate
    from tests.policies.mutations import edit

    graph = edit("hosts-sg-dicom-0", cidrIpv4=source)(PlanGraph.from_synthesis(prod))
    failing = {f.control: f.message for f in evaluate(graph) if f.status == "fail"}
    assert set(failing) == {"PACS-DICOM-EXPOSURE"}, failing
    assert source in failing["PACS-DICOM-EXPOSURE"] or "internet" in failing["PACS-DICOM-EXPOSURE"]


def test_an_endpoint_without_a_policy_fails_the_plan(prod: Synthesis) -> None:
    from policies.evaluate import evaluate
    from tests.policies.mutations import DELETE, edit

    graph = edit("network-kms", policy=DELETE)(PlanGraph.from_synthesis(prod))
    failing = [(f.control, f.resource) for f in evaluate(graph) if f.status == "fail"]
    assert failing == [("NET-VPC-ENDPOINTS", "network-kms")]


# Cognito prefix domains are unique across all accounts in a region: the default must not be the stack name alone
def test_default_login_domain_is_specific_to_the_account(stack: Synthesis) -> None:
    prefix = named(stack, "aws:cognito/userPoolDomain:UserPoolDomain", "identity-domain").inputs["domain"]
    bare = f"pacsguard-{stack.stack}"[:24] + "-login"
    suffix = hashlib.sha256(f"{FAKE_ACCOUNT}/{stack.stack}".encode()).hexdigest()[:8]
    assert prefix == f"{bare}-{suffix}" and len(prefix) <= 63


# The Cognito callback https://<domain>/oauth2/idpresponse needs web.domain_name to resolve to the ALB
def test_domain_name_resolves_to_the_load_balancer(prod: Synthesis) -> None:
    record = named(prod, "aws:route53/record:Record", "web-alias")
    alb = named(prod, "aws:lb/loadBalancer:LoadBalancer", "web-alb")
    assert record.inputs["name"] == prod.settings.web.domain_name and record.inputs["type"] == "A"
    assert record.inputs["zoneId"] == prod.settings.web.route53_zone_id
    (alias,) = record.inputs["aliases"]
    assert (alias["name"], alias["zoneId"]) == (alb.outputs["dnsName"], alb.outputs["zoneId"])


# Most accounts already have AWSServiceRoleForAutoScaling: creating it again fails ("has been taken")
@pytest.mark.parametrize("present", [True, False])
def test_autoscaling_service_role_is_created_only_where_the_account_lacks_it(
    monkeypatch: pytest.MonkeyPatch, present: bool
) -> None:
    answer_of = synth_module._StackMocks.call
    asked: list[dict] = []

    def call(self: synth_module._StackMocks, args) -> dict:
        if args.token == "aws:iam/getRoles:getRoles":
            asked.append(dict(args.args))
            names = ["AWSServiceRoleForAutoScaling"] if present else []
            return {"arns": [], "names": names, "id": "roles"}
        return answer_of(self, args)

    monkeypatch.setattr(synth_module._StackMocks, "call", call)
    s = synthesize("prod")
    assert s.settings.account.autoscaling_service_role == "auto"
    assert asked and asked[0]["nameRegex"] == "^AWSServiceRoleForAutoScaling$"
    assert asked[0]["pathPrefix"] == "/aws-service-role/autoscaling.amazonaws.com/"
    created = s.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert bool(created) is not present
    key = named(s, KEY, "keys-images")
    assert (key.inputs["tags"].get("pacsguard:service-linked-role") == "existing") is present
