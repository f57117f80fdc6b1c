"""Network exposure: nothing public that need not be, and what is exposed is filtered."""

from __future__ import annotations

import ipaddress
from typing import Any

from infra.endpoint_services import POLICY_SERVICES
from policies import citations as c
from policies.cloud.checks import s3_account
from policies.facts import kinds
from policies.facts.kinds import judged
from policies.facts.resources import Bucket, Database, DefaultGroup, Host, LoadBalancer, SecurityGroup, Vpc
from policies.graph import PlanGraph, as_list, policy_doc, statements
from policies.model import Citations, CloudCheck, Control, Outcome, ResourceCheck, StackCheck, resource_outcome
from policies.plan.facts import PAB_FLAGS

EXPOSURE = Citations(hipaa=(c.ACCESS, c.TRANSMISSION), gdpr=(c.GDPR_CIA, c.GDPR_BY_DESIGN))
REQUIRED_ENDPOINTS = ("s3", "ssm", "ssmmessages", "ec2messages", "kms", "logs", "secretsmanager", "sts")
REQUIRED_WAF_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
)


def _s3_public(b: Bucket) -> str | None:
    missing = [flag for flag in PAB_FLAGS if flag not in b.public_access_block]
    public_allow = [
        st.get("Sid", "?")
        for st in statements(b.policy)
        if st.get("Effect") == "Allow" and st.get("Principal") in ("*", {"AWS": "*"})
    ]
    if missing:
        return f"public access block lacks {', '.join(missing)}"
    return f"bucket policy allows anyone ({', '.join(public_allow)})" if public_allow else None


def _sg_world(sg: SecurityGroup) -> str | None:
    return f"admits the internet on port {', '.join(sg.world_ports)}" if sg.world_ports else None


def _default_sg(d: DefaultGroup) -> str | None:
    if d.rules is None:
        return "the default security group is not managed: AWS leaves its allow-all rules"
    return "the default security group has rules" if d.rules else None


def _host_public_ip(h: Host) -> str | None:
    if not h.public_ip:
        return None
    return f"public IP {h.public_address}" if h.public_address else "hosts get a public IP on launch"


def _no_public_ip_subnet(i: dict[str, Any]) -> str | None:
    return "subnet assigns public IPs on launch" if i.get("mapPublicIpOnLaunch") else None


def _imdsv2(h: Host) -> str | None:
    if h.imds_tokens != "required":
        return "IMDSv1 allowed (http_tokens is not 'required'): SSRF can steal the instance role"
    if (h.imds_hop_limit or 1) > 1:
        return "metadata hop limit above 1 lets containers reach the instance role"
    return None


def _flow_logs(v: Vpc) -> str | None:
    if not v.flow_log_traffic:
        return "no flow log"
    return None if "ALL" in v.flow_log_traffic else "flow logs do not capture ALL traffic"


def _db_private(db: Database) -> str | None:
    if db.publicly_accessible:
        return "database is publicly accessible"
    if db.admitted_cidrs:
        return (
            f"database security group admits address ranges ({', '.join(db.admitted_cidrs)}), not only the hosts' group"
        )
    return None


def _waf(lb: LoadBalancer) -> str | None:
    if lb.waf_groups is None:
        return "no WAF web ACL is associated"
    missing = [grp for grp in REQUIRED_WAF_GROUPS if grp not in lb.waf_groups]
    if missing:
        return f"web ACL lacks managed rule groups {', '.join(missing)}"
    return None if lb.waf_rate_limit else "web ACL has no rate-based rule"


def _endpoints(g: PlanGraph) -> list[Outcome]:
    names = {str(e.inputs.get("serviceName", "")).rsplit(".", 1)[-1] for e in g.of("aws:ec2/vpcEndpoint:VpcEndpoint")}
    missing = [s for s in REQUIRED_ENDPOINTS if s not in names]
    vpcs = g.of("aws:ec2/vpc:Vpc")
    where = vpcs[0].name if vpcs else "stack"
    open_ = [
        e.name
        for e in g.of("aws:ec2/vpcEndpoint:VpcEndpoint")
        if str(e.inputs.get("serviceName", "")).rsplit(".", 1)[-1] in POLICY_SERVICES
        and not _account_only(e.inputs.get("policy"))
    ]
    if missing:
        return [Outcome(where, "fail", f"no VPC endpoint for {', '.join(missing)}")]
    if open_:
        # Without a policy an endpoint passes requests to any account's resources (exfiltration to a foreign bucket).
        return [Outcome(name, "fail", "endpoint without a policy limited to this account") for name in open_]
    return [Outcome(where, "pass", "AWS APIs reached through VPC endpoints with account-scoped policies")]


def _account_only(policy: Any) -> bool:
    sts = statements(policy_doc(policy))
    return bool(sts) and all(
        st.get("Effect") == "Deny"
        or (st.get("Condition") or {}).get("StringEquals", {}).get("aws:PrincipalAccount")
        or (
            all(str(r).startswith("arn:aws:s3:::") for r in as_list(st.get("Resource")))
            and as_list(st.get("Action")) == ["s3:GetObject"]
        )
        for st in sts
    )


INTERNET_HTTPS_PURPOSES = {"identity-keys", "package-window"}


def _host_egress(g: PlanGraph) -> list[Outcome]:
    """Hosts talk to named destinations: groups, prefix lists, single addresses. The one exception is a single TCP 443
    rule to the internet labelled with its purpose: the identity keys no VPC endpoint serves (the ALB's signing keys,
    the user pool's JWKS) and, open, the package window. Closed, the host firewall holds every user but the key service's
    to HTTPS inside the VPC and to the S3 prefix list (orthanc_config/render_nftables.py)."""
    out = []
    for lt in g.of("aws:ec2/launchTemplate:LaunchTemplate"):
        for sg in g.referenced(lt, "networkInterfaces"):
            if sg.type != "aws:ec2/securityGroup:SecurityGroup":
                continue
            internet_https = 0
            for rule in g.parts(sg, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "securityGroupId"):
                i = rule.inputs
                cidr = i.get("cidrIpv4") or i.get("cidrIpv6")
                purposes = set(str(rule.tags.get("pacsguard:purpose", "")).split())
                labelled = bool(purposes) and purposes <= INTERNET_HTTPS_PURPOSES
                https = i.get("ipProtocol") == "tcp" and i.get("fromPort") == 443 == i.get("toPort")
                wide = bool(cidr) and ipaddress.ip_network(cidr).num_addresses > 1
                if i.get("ipProtocol") == "-1":
                    failure = "all protocols and ports"
                elif wide and not (labelled and https):
                    failure = f"egress to the network {cidr}: name the destination (group, prefix list, address)"
                elif wide and internet_https:
                    failure = f"a second internet HTTPS rule ({cidr}): one labelled rule carries keys and packages"
                else:
                    failure = None
                internet_https += int(wide and labelled and https)
                ok = (
                    f"internet HTTPS for {' and '.join(sorted(purposes))} only (identity-key service, package window)"
                    if wide
                    else "named destination"
                )
                out.append(resource_outcome(rule, failure, ok))
    return out or [Outcome("stack", "skipped", "not applicable: no host launch template")]


def _alb_headers(lb: LoadBalancer) -> str | None:
    return None if lb.drops_invalid_headers else "invalid header fields are passed to the hosts (request smuggling)"


def _db_isolated(g: PlanGraph) -> list[Outcome]:
    """The database's subnets have no route to the internet."""
    out = []
    routes = g.of("aws:ec2/route:Route")
    assocs = g.of("aws:ec2/routeTableAssociation:RouteTableAssociation")
    for group in g.of("aws:rds/subnetGroup:SubnetGroup"):
        subnets = g.referenced(group, "subnetIds")
        tables = {
            t.urn
            for a in assocs
            for s in subnets
            if a.depends_on("subnetId", s)
            for t in g.referenced(a, "routeTableId")
        }
        exits = [
            r.name
            for r in routes
            for t in tables
            if r.property_dependencies.get("routeTableId") == [t]
            and (r.inputs.get("gatewayId") or r.inputs.get("natGatewayId"))
        ]
        out.append(
            resource_outcome(
                group, f"database subnets route out ({', '.join(exits)})" if exits else None, "no route out"
            )
        )
    return out


CONTROLS = [
    Control(
        id="NET-S3-PUBLIC",
        title="No bucket can be made public",
        family="network",
        severity="critical",
        rationale="Public buckets are how imaging archives leak; all four block flags stop ACL and policy mistakes alike.",
        remediation="Declare BucketPublicAccessBlock with all four flags and no Allow to Principal '*'.",
        citations=EXPOSURE,
        equivalents={
            "aws_config": "S3_BUCKET_PUBLIC_READ_PROHIBITED",
            "prowler": "s3_bucket_level_public_access_block",
            "checkov": "CKV_AWS_53",
        },
        **judged(kinds.BUCKETS, _s3_public, "all four public access block flags on"),
    ),
    Control(
        id="NET-SG-WORLD",
        title="No security group admits the whole internet",
        family="network",
        severity="critical",
        rationale="An open port on a PACS host is the finding behind most exposed-PACS reports.",
        remediation="List the hospital networks in dicom.modality_cidrs and https.cidrs; never 0.0.0.0/0 or ::/0.",
        citations=EXPOSURE,
        equivalents={"prowler": "ec2_securitygroup_allow_ingress_from_internet_to_any_port", "checkov": "CKV_AWS_260"},
        **judged(kinds.SECURITY_GROUPS, _sg_world, "sources restricted"),
    ),
    Control(
        id="NET-DEFAULT-SG",
        title="The default security group has no rules",
        family="network",
        severity="medium",
        rationale="Anything launched without a group lands in the default one; it must admit nothing.",
        remediation="Manage ec2.DefaultSecurityGroup with empty ingress and egress.",
        citations=EXPOSURE,
        equivalents={
            "aws_config": "VPC_DEFAULT_SECURITY_GROUP_CLOSED",
            "prowler": "ec2_securitygroup_default_restrict_traffic",
            "checkov": "CKV2_AWS_12",
        },
        **judged(kinds.DEFAULT_GROUPS, _default_sg, "default security group has no rules"),
    ),
    Control(
        id="NET-HOST-NO-PUBLIC-IP",
        title="Hosts get no public IP address",
        family="network",
        severity="high",
        rationale="Hosts are reached through load balancers only.",
        remediation="Set associate_public_ip_address=false in the launch template.",
        citations=EXPOSURE,
        equivalents={
            "aws_config": "EC2_INSTANCE_NO_PUBLIC_IP",
            "prowler": "ec2_launch_template_no_public_ip",
            "checkov": "CKV_AWS_88",
        },
        **judged(kinds.HOSTS, _host_public_ip),
    ),
    Control(
        id="NET-SUBNET-NO-PUBLIC-IP",
        title="Subnets do not assign public IPs",
        family="network",
        severity="medium",
        rationale="A subnet that maps public IPs turns any instance launched in it into an internet host.",
        remediation="Set map_public_ip_on_launch=False on every subnet.",
        citations=EXPOSURE,
        equivalents={"checkov": "CKV_AWS_130"},
        plan=ResourceCheck(("aws:ec2/subnet:Subnet",), _no_public_ip_subnet),
    ),
    Control(
        id="NET-IMDSV2",
        title="Instance metadata requires IMDSv2 with hop limit 1",
        family="network",
        severity="high",
        rationale="IMDSv1 lets a server-side request forgery steal the host role's credentials.",
        remediation="Set metadata_options http_tokens='required' and http_put_response_hop_limit=1.",
        citations=EXPOSURE,
        equivalents={
            "aws_config": "EC2_IMDSV2_CHECK",
            "prowler": "ec2_launch_template_imdsv2_required",
            "checkov": "CKV_AWS_79",
        },
        **judged(kinds.HOSTS, _imdsv2),
    ),
    Control(
        id="NET-FLOW-LOGS",
        title="VPC flow logs record all traffic",
        family="network",
        severity="medium",
        rationale="Flow logs are the record of who connected to the PACS, accepted or rejected.",
        remediation="Add an ec2.FlowLog with traffic_type ALL to a KMS-encrypted log group.",
        citations=Citations(hipaa=(c.AUDIT, c.ACTIVITY_REVIEW), gdpr=(c.GDPR_CIA,)),
        equivalents={
            "aws_config": "VPC_FLOW_LOGS_ENABLED",
            "prowler": "vpc_flow_logs_enabled",
            "checkov": "CKV2_AWS_11",
        },
        **judged(kinds.VPCS, _flow_logs, "flow logs capture all traffic"),
    ),
    Control(
        id="NET-DB-PRIVATE",
        title="The index database is private and admits only the hosts",
        family="network",
        severity="critical",
        rationale="The index is reachable by the PACS hosts and nothing else.",
        remediation="publicly_accessible=False; a security group whose only ingress references the hosts' group.",
        citations=EXPOSURE,
        equivalents={
            "aws_config": "RDS_INSTANCE_PUBLIC_ACCESS_CHECK",
            "prowler": "rds_instance_no_public_access",
            "checkov": "CKV_AWS_17",
        },
        **judged(kinds.DATABASES, _db_private, "private, reachable only from the hosts' security group"),
    ),
    Control(
        id="NET-DB-ISOLATED",
        title="The database subnets have no route out",
        family="network",
        severity="high",
        rationale="A compromised database cannot send data anywhere if its subnets have only the local route.",
        remediation="Put the subnet group in isolated subnets whose route table has no internet or NAT route.",
        citations=EXPOSURE,
        equivalents={},
        plan=StackCheck(_db_isolated),
    ),
    Control(
        id="NET-WAF",
        title="The web entry is behind WAF with managed rules and a rate limit",
        family="network",
        severity="high",
        rationale="Managed rule groups stop known exploit payloads; a per-IP rate limit slows credential stuffing.",
        remediation="Associate a WAFv2 web ACL with the common, known-bad-inputs and SQLi groups and a rate-based rule.",
        citations=EXPOSURE,
        equivalents={"aws_config": "ALB_WAF_ENABLED", "prowler": "elbv2_waf_acl_attached", "checkov": "CKV2_AWS_28"},
        **judged(
            kinds.LOAD_BALANCERS,
            _waf,
            "WAF with managed rules and a rate limit",
            applies=lambda lb: lb.type == "application",
            applies_to="application load balancers",
        ),
    ),
    Control(
        id="NET-VPC-ENDPOINTS",
        title="AWS API traffic stays inside the VPC",
        family="network",
        severity="low",
        rationale="Endpoints keep KMS, Secrets Manager and log traffic off the internet path.",
        remediation="Add an S3 gateway endpoint and interface endpoints for ssm, ssmmessages, ec2messages, kms, logs, secretsmanager, sts.",
        citations=EXPOSURE,
        equivalents={},
        plan=StackCheck(_endpoints),
    ),
    Control(
        id="NET-HOST-EGRESS",
        title="Hosts send only to named destinations",
        family="network",
        severity="medium",
        rationale="A host that may reach any address can send PHI anywhere; endpoints, the S3 prefix list, "
        "the stack's groups and each C-MOVE destination are all it needs, plus one labelled HTTPS rule for the "
        "identity keys no endpoint serves (with hosts.package_egress closed the host firewall lets only the key "
        "service's user past the VPC and the S3 prefix list on 443).",
        remediation="Egress to security groups, prefix lists or single addresses; one TCP 443 rule to the internet "
        "labelled pacsguard:purpose identity-keys (package-window while hosts.package_egress is open); set "
        "hosts.package_egress: closed outside patch windows.",
        citations=EXPOSURE,
        equivalents={},
        plan=StackCheck(_host_egress),
    ),
    Control(
        id="NET-ALB-HEADERS",
        title="The ALB drops invalid header fields",
        family="network",
        severity="medium",
        rationale="Malformed headers are a request-smuggling vector towards nginx and Orthanc.",
        remediation="Set drop_invalid_header_fields=True.",
        citations=EXPOSURE,
        equivalents={
            "aws_config": "ALB_HTTP_DROP_INVALID_HEADER_ENABLED",
            "prowler": "elbv2_alb_drop_invalid_header_fields_enabled",
            "checkov": "CKV_AWS_131",
        },
        **judged(
            kinds.LOAD_BALANCERS,
            _alb_headers,
            applies=lambda lb: lb.type == "application",
            applies_to="application load balancers",
        ),
    ),
    Control(
        id="NET-S3-ACCOUNT-PAB",
        title="The account blocks public S3 access",
        family="network",
        severity="high",
        rationale="The account-level block covers buckets created outside the stack, by hand or by another tool.",
        remediation="Enable all four flags of the S3 account public access block (s3control PutPublicAccessBlock).",
        citations=EXPOSURE,
        equivalents={"prowler": "s3_account_level_public_access_blocks"},
        cloud=CloudCheck(s3_account.account_public_access_block),
    ),
]
