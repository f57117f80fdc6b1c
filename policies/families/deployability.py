"""Deployability: AWS's own create-time constraints, checked offline like cfn-lint does for CloudFormation.

The SDK mocks accept anything; AWS does not. Each rule here encodes one constraint a real `pulumi up`
hits, cites the AWS page it comes from, and judges the same graph the security controls read. Ordering
rules read the dependencies the engine honours (`depends_on` and input references, transitively).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from orthanc_config.profile import HostProfile
from policies import host_profile
from policies.api_enums import enum_values
from policies.graph import PlanGraph, Res, as_list, policy_doc, statements
from policies.model import Citations, Control, Outcome, StackCheck, resource_outcome
from stacks.settings import RDS_POSTGRES_MAJORS, RDS_VERSIONS_CHECKED, is_hospital_private

DOCS = "https://docs.aws.amazon.com"
LISTENER = "aws:lb/listener:Listener"
LB = "aws:lb/loadBalancer:LoadBalancer"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ROLE_POLICIES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SLR_IN_ARN = re.compile(r":role/aws-service-role/([a-z0-9.-]+\.amazonaws\.com)/")
# Config managed rules that evaluate only Classic Load Balancers (AWS Config managed rules list).
# ELB_LOGGING_ENABLED is not one: it evaluates Application Load Balancers too.
CLASSIC_ELB_RULES = (
    "ELB_TLS_HTTPS_LISTENERS_ONLY",
    "ELB_ACM_CERTIFICATE_REQUIRED",
    "ELB_CUSTOM_SECURITY_POLICY_SSL_CHECK",
    "ELB_PREDEFINED_SECURITY_POLICY_SSL_CHECK",
)


def _aws(*pages: str) -> Citations:
    return Citations(aws=tuple(f"{DOCS}/{p}" for p in pages))


def _refs(g: PlanGraph, res: Res, prop: str, typ: str) -> list[Res]:
    return [r for r in g.referenced(res, prop) if r.type == typ]


def _encryption(g: PlanGraph, bucket: Res) -> str | None:
    for enc in g.parts(
        bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "bucket"
    ):
        for rule in enc.inputs.get("rules") or []:
            return (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
    return None


def _after_policy(g: PlanGraph, res: Res, bucket: Res, what: str) -> Outcome:
    policies = g.parts(bucket, BUCKET_POLICY, "bucket")
    if not policies:
        return resource_outcome(res, f"{bucket.name} has no bucket policy admitting {what}")
    ordered = all(g.created_after(res, p) for p in policies)
    return resource_outcome(
        res,
        None if ordered else f"created before {policies[0].name}: AWS checks it admits {what}",
        f"created after {policies[0].name}",
    )


def _role_policies(g: PlanGraph, role: Res) -> list[Res]:
    return [p for t in ROLE_POLICIES for p in g.parts(role, t, "role")]


def _after_role_policy(g: PlanGraph, res: Res, role: Res) -> str | None:
    policies = _role_policies(g, role)
    if not policies:
        return f"role {role.name} has no policy"
    missing = [p.name for p in policies if not g.created_after(res, p)]
    return f"may be created before {', '.join(missing)} grants the role its rights" if missing else None


# --- certificates, database, keys -------------------------------------------------------------------


def _certificate_issued(g: PlanGraph) -> list[Outcome]:
    out = []
    for lst in g.of(LISTENER):
        if lst.inputs.get("protocol") not in ("HTTPS", "TLS"):
            continue
        refs = g.referenced(lst, "certificateArn")
        raw = [r for r in refs if r.type == "aws:acm/certificate:Certificate"]
        if raw:
            failure = (
                f"uses {raw[0].name} while it may still be PENDING_VALIDATION: take the CertificateValidation's ARN"
            )
        elif not refs and not str(lst.inputs.get("certificateArn") or "").startswith("arn:"):
            failure = "no certificate"
        else:
            failure = None
        out.append(resource_outcome(lst, failure, "certificate issued before the listener"))
    return out or [Outcome("stack", "skipped", "not applicable: no TLS listener in this stack")]


def _rds_version(g: PlanGraph) -> list[Outcome]:
    out = []
    for db in g.of("aws:rds/instance:Instance"):
        if db.inputs.get("engine") != "postgres":
            continue
        version = str(db.inputs.get("engineVersion") or "")
        major = version.split(".")[0]
        families = {p.inputs.get("family") for p in g.of("aws:rds/parameterGroup:ParameterGroup")}
        if "." in version:
            failure = f"engine_version {version} pins a minor: RDS stops creating old minors (16.1-16.8 already)"
        elif major not in RDS_POSTGRES_MAJORS:
            failure = f"PostgreSQL {major} is not a major RDS creates (as of {RDS_VERSIONS_CHECKED})"
        elif not db.inputs.get("autoMinorVersionUpgrade"):
            failure = "a major-only version needs auto_minor_version_upgrade to stay patched"
        elif f"postgres{major}" not in families:
            failure = f"no parameter group of family postgres{major}"
        else:
            failure = None
        out.append(resource_outcome(db, failure, f"PostgreSQL {major}, current minor, patched automatically"))
    return out or [Outcome("stack", "skipped", "not applicable: no PostgreSQL instance in this stack")]


def _service_linked_roles(g: PlanGraph) -> list[Outcome]:
    out = []
    roles = g.of("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    for key in g.of("aws:kms/key:Key"):
        named = set(SLR_IN_ARN.findall(str(key.inputs.get("policy") or "")))
        if not named:
            continue
        missing = [
            svc
            for svc in sorted(named)
            if not any(r.inputs.get("awsServiceName") == svc and g.created_after(key, r) for r in roles)
        ]
        if missing and key.tags.get("pacsguard:service-linked-role") == "existing":
            missing = []  # account.autoscaling_service_role: existing (the account has it)
        out.append(
            resource_outcome(
                key,
                f"policy names the service-linked role of {', '.join(missing)} but the key does not wait for it"
                if missing
                else None,
                "service-linked roles exist before the key policy names them",
            )
        )
    return out or [Outcome("stack", "skipped", "not applicable: no key policy names a service-linked role")]


# --- log destinations and ordering --------------------------------------------------------------------


def _s3_log_destination(g: PlanGraph) -> list[Outcome]:
    out = []
    for logging in g.of("aws:s3/bucketLogging:BucketLogging"):
        for target in _refs(g, logging, "targetBucket", BUCKET):
            if target.inputs.get("objectLockEnabled"):
                failure = f"destination {target.name} has object lock: S3 refuses it as a log destination"
            elif _encryption(g, target) not in (None, "AES256"):
                failure = f"destination {target.name} is not SSE-S3"
            else:
                failure = None
            out.append(resource_outcome(logging, failure, f"{target.name}: SSE-S3, no object lock"))
    return out or [Outcome("stack", "skipped", "not applicable: no server access logging")]


def _alb_log_destination(g: PlanGraph) -> list[Outcome]:
    out = []
    for lb in g.of(LB):
        for target in _refs(g, lb, "accessLogs", BUCKET):
            algo = _encryption(g, target)
            out.append(
                resource_outcome(
                    lb,
                    None if algo in (None, "AES256") else f"log bucket {target.name} uses {algo}: ALB logs need SSE-S3",
                    "SSE-S3",
                )
            )
    return out or [Outcome("stack", "skipped", "not applicable: no load balancer access logs")]


def _config_destination(g: PlanGraph) -> list[Outcome]:
    out = []
    for channel in g.of("aws:cfg/deliveryChannel:DeliveryChannel"):
        for bucket in _refs(g, channel, "s3BucketName", BUCKET):
            locked = bucket.inputs.get("objectLockEnabled") or g.parts(
                bucket, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "bucket"
            )
            failure = f"bucket {bucket.name} has object lock: Config refuses it as a delivery destination"
            out.append(resource_outcome(channel, failure if locked else None, f"{bucket.name}: no object lock"))
    return out or [Outcome("stack", "skipped", "not applicable: no Config delivery channel")]


def _order_s3_logging(g: PlanGraph) -> list[Outcome]:
    return [
        _after_policy(g, logging, target, "logging.s3.amazonaws.com")
        for logging in g.of("aws:s3/bucketLogging:BucketLogging")
        for target in _refs(g, logging, "targetBucket", BUCKET)
    ] or [Outcome("stack", "skipped", "not applicable: no server access logging")]


def _order_alb_logs(g: PlanGraph) -> list[Outcome]:
    return [
        _after_policy(g, lb, target, "ELB log delivery")
        for lb in g.of(LB)
        for target in _refs(g, lb, "accessLogs", BUCKET)
    ] or [Outcome("stack", "skipped", "not applicable: no load balancer access logs")]


def _order_trail(g: PlanGraph) -> list[Outcome]:
    out = []
    for trail in g.of("aws:cloudtrail/trail:Trail"):
        for bucket in _refs(g, trail, "s3BucketName", BUCKET):
            out.append(_after_policy(g, trail, bucket, "CloudTrail"))
        for role in _refs(g, trail, "cloudWatchLogsRoleArn", "aws:iam/role:Role"):
            out.append(resource_outcome(trail, _after_role_policy(g, trail, role), f"after {role.name}'s policy"))
    return out or [Outcome("stack", "skipped", "not applicable: no trail")]


def _order_flow_logs(g: PlanGraph) -> list[Outcome]:
    return [
        resource_outcome(f, _after_role_policy(g, f, role), f"after {role.name}'s policy")
        for f in g.of("aws:ec2/flowLog:FlowLog")
        for role in _refs(g, f, "iamRoleArn", "aws:iam/role:Role")
    ] or [Outcome("stack", "skipped", "not applicable: no flow log to CloudWatch Logs")]


def _order_config(g: PlanGraph) -> list[Outcome]:
    out = []
    for channel in g.of("aws:cfg/deliveryChannel:DeliveryChannel"):
        for bucket in _refs(g, channel, "s3BucketName", BUCKET):
            out.append(_after_policy(g, channel, bucket, "AWS Config"))
        for rec in g.of("aws:cfg/recorder:Recorder"):
            for role in _refs(g, rec, "roleArn", "aws:iam/role:Role"):
                out.append(
                    resource_outcome(channel, _after_role_policy(g, channel, role), f"after {role.name}'s policy")
                )
    return out or [Outcome("stack", "skipped", "not applicable: no Config delivery channel")]


# --- sign-in and network paths ------------------------------------------------------------------------


def _auth_actions(lst: Res) -> list[dict[str, Any]]:
    return [
        a
        for a in lst.inputs.get("defaultActions") or []
        if a.get("type") in ("authenticate-cognito", "authenticate-oidc")
    ]


# Scopes with which Cognito's userInfo still returns custom attributes (userinfo-endpoint page: openid
# alone returns every attribute the client may read; profile returns the custom ones too).
CUSTOM_ATTRIBUTE_SCOPES = frozenset({"openid", "profile"})


def _cognito_scopes(g: PlanGraph) -> list[Outcome]:
    out = []
    for lst in g.of(LISTENER):
        for action in _auth_actions(lst):
            cfg = action.get("authenticateCognito") or {}
            if not cfg:
                continue
            scopes = str(cfg.get("scope") or "openid").split()
            clients = _refs(g, lst, "defaultActions", "aws:cognito/userPoolClient:UserPoolClient")
            custom = any(str(a).startswith("custom:") for c in clients for a in c.inputs.get("readAttributes") or [])
            allowed = {s for c in clients for s in c.inputs.get("allowedOauthScopes") or []}
            if custom and not ("openid" in scopes and set(scopes) <= CUSTOM_ATTRIBUTE_SCOPES):
                failure = (
                    f"scope {' '.join(scopes)!r}: userInfo then omits custom attributes; use 'openid' "
                    "(or 'openid profile')"
                )
            elif clients and not set(scopes) <= allowed:
                failure = f"scopes {sorted(set(scopes) - allowed)} are not allowed by the app client"
            else:
                failure = None
            out.append(resource_outcome(lst, failure, "scope openid: userInfo carries the custom attributes"))
    return out or [Outcome("stack", "skipped", "not applicable: no Cognito authentication")]


def _refresh_rotation_flows(g: PlanGraph) -> list[Outcome]:
    out = []
    for client in g.of("aws:cognito/userPoolClient:UserPoolClient"):
        rotation = (client.inputs.get("refreshTokenRotation") or {}).get("feature")
        flows = as_list(client.inputs.get("explicitAuthFlows"))
        failure = (
            "refresh-token rotation is enabled while ALLOW_REFRESH_TOKEN_AUTH is listed: Cognito refuses that flow "
            "on rotating clients"
            if rotation == "ENABLED" and "ALLOW_REFRESH_TOKEN_AUTH" in flows
            else None
        )
        out.append(resource_outcome(client, failure, "no refresh flow that rotation refuses"))
    return out or [Outcome("stack", "skipped", "not applicable: no Cognito app client")]


# The default prefix before account-derived suffixes: predictable from the stack name alone.
BARE_LOGIN_PREFIX = re.compile(r"^pacsguard-[a-z0-9-]*-login$")


def _cognito_domain(g: PlanGraph) -> list[Outcome]:
    out = []
    for domain in g.of("aws:cognito/userPoolDomain:UserPoolDomain"):
        if domain.inputs.get("certificateArn"):
            continue  # a custom domain the adopter owns
        prefix = str(domain.inputs.get("domain") or "")
        failure = (
            f"prefix {prefix!r} comes from the stack name alone: prefix domains are unique across all accounts "
            "in a region, so another adopter's stack of that name already holds it"
            if BARE_LOGIN_PREFIX.match(prefix)
            else None
        )
        out.append(resource_outcome(domain, failure, f"prefix {prefix!r} is specific to this account"))
    return out or [Outcome("stack", "skipped", "not applicable: no Cognito prefix domain")]


def _egress_443_world(g: PlanGraph, sg: Res) -> bool:
    for rule in g.parts(sg, EGRESS, "securityGroupId"):
        i = rule.inputs
        port_ok = i.get("ipProtocol") == "-1" or ((i.get("fromPort") or 0) <= 443 <= (i.get("toPort") or -1))
        if port_ok and (i.get("cidrIpv4") == "0.0.0.0/0" or i.get("cidrIpv6") == "::/0"):
            return True
    return False


def _idp_egress(g: PlanGraph) -> list[Outcome]:
    out = []
    for lst in g.of(LISTENER):
        if not _auth_actions(lst):
            continue
        for lb in _refs(g, lst, "loadBalancerArn", LB):
            groups = _refs(g, lb, "securityGroups", "aws:ec2/securityGroup:SecurityGroup")
            ok = any(_egress_443_world(g, sg) for sg in groups)
            out.append(
                resource_outcome(
                    lb,
                    None
                    if ok
                    else "authenticates users but its security groups have no "
                    "HTTPS egress to the IdP's token and userInfo endpoints",
                    "HTTPS egress to the IdP",
                )
            )
    return out or [Outcome("stack", "skipped", "not applicable: no authenticating listener")]


def _host_profiles(g: PlanGraph, out: list[Outcome]) -> list[tuple[Res, HostProfile]]:
    """Each launch template with the host profile in its user data; one that has none is reported as skipped."""
    found = []
    for lt in host_profile.host_templates(g):
        try:
            found.append((lt, host_profile.profile_of(lt)))
        except host_profile.ProfileUnavailable as exc:
            out.append(Outcome(lt.name, "skipped", f"not applicable: {exc}"))
    return found


def _subnet_cidrs(g: PlanGraph, lb: Res) -> list[str]:
    return [str(sn.inputs.get("cidrBlock")) for sn in _refs(g, lb, "subnets", "aws:ec2/subnet:Subnet")]


def _health_check_sources(g: PlanGraph) -> list[Outcome]:
    out = []
    for _lt, profile in _host_profiles(g, out):
        admitted = [ipaddress.ip_network(c) for c in profile.lb_cidrs]
        for lb in g.of(LB):
            missing = [
                c
                for c in _subnet_cidrs(g, lb)
                if not any(ipaddress.ip_network(c).subnet_of(a) for a in admitted if a.version == 4)
            ]
            out.append(
                resource_outcome(
                    lb,
                    f"host firewall drops traffic and health checks from its subnets {missing}" if missing else None,
                    "host firewall admits its subnets",
                )
            )
    return out or [Outcome("stack", "skipped", "not applicable: no host launch template")]


def _private_route_tables(g: PlanGraph) -> list[Res]:
    nat_routes = [r for r in g.of("aws:ec2/route:Route") if r.inputs.get("natGatewayId")]
    return [t for r in nat_routes for t in _refs(g, r, "routeTableId", "aws:ec2/routeTable:RouteTable")]


def _hospital_routes(g: PlanGraph) -> list[Outcome]:
    vpcs = [ipaddress.ip_network(v.inputs["cidrBlock"]) for v in g.of("aws:ec2/vpc:Vpc") if v.inputs.get("cidrBlock")]
    sources = set()
    for rule in g.of(INGRESS):
        cidr = rule.inputs.get("cidrIpv4")
        if cidr:
            net = ipaddress.ip_network(cidr)
            if is_hospital_private(net) and not any(net.overlaps(v) for v in vpcs):
                sources.add(net)
    out = []
    for table in _private_route_tables(g):
        routes = [r for r in g.of("aws:ec2/route:Route") if r.depends_on("routeTableId", table)]
        via = [
            ipaddress.ip_network(r.inputs["destinationCidrBlock"])
            for r in routes
            if r.inputs.get("destinationCidrBlock")
            and (r.inputs.get("transitGatewayId") or str(r.inputs.get("gatewayId", "")).startswith("vgw-"))
        ]
        missing = sorted(str(s) for s in sources if not any(s.subnet_of(v) for v in via))
        out.append(
            resource_outcome(
                table,
                f"no route to hospital networks {missing}: replies leave through the NAT" if missing else None,
                "routes to every hospital network",
            )
        )
    return out or [Outcome("stack", "skipped", "not applicable: no private route table")]


def _move_egress(g: PlanGraph) -> list[Outcome]:
    out = []
    for lt, profile in _host_profiles(g, out):
        groups = [sg for ni in [lt] for sg in _refs(g, ni, "networkInterfaces", "aws:ec2/securityGroup:SecurityGroup")]
        rules = [r.inputs for sg in groups for r in g.parts(sg, EGRESS, "securityGroupId")]
        for m in (m for m in profile.modalities if "move" in m.rights):
            ok = any(
                ipaddress.ip_address(m.host)
                in ipaddress.ip_network(r.get("cidrIpv4") or r.get("cidrIpv6") or "0.0.0.0/32")
                and (r.get("fromPort") or 0) <= m.port <= (r.get("toPort") or -1)
                for r in rules
            )
            out.append(
                Outcome(
                    m.aet,
                    "pass" if ok else "fail",
                    "egress to the C-MOVE destination"
                    if ok
                    else f"C-MOVE to {m.aet} ({m.host}:{m.port}) has no egress from the hosts",
                )
            )
    return out or [Outcome("stack", "skipped", "not applicable: no modality has the move right")]


# --- backups, objects, Config, enumerations --------------------------------------------------------------


def _backup_copy_key(g: PlanGraph) -> list[Outcome]:
    copies = any(r.get("copyActions") for p in g.of("aws:backup/plan:Plan") for r in p.inputs.get("rules") or [])
    rds = g.of("aws:rds/instance:Instance")
    if not (copies and rds):
        return [Outcome("stack", "skipped", "not applicable: no cross-region copy of an RDS database")]
    out = []
    for vault in g.of("aws:backup/vault:Vault"):
        for key in _refs(g, vault, "kmsKeyArn", "aws:kms/key:Key"):
            region = key.tags.get("pacsguard:region", "")
            via = {
                v
                for st in statements(policy_doc(key.inputs.get("policy")))
                for v in as_list(((st.get("Condition") or {}).get("StringEquals") or {}).get("kms:ViaService"))
            }
            ok = f"rds.{region}.amazonaws.com" in via
            out.append(
                resource_outcome(
                    key,
                    None if ok else f"vault {vault.name} key does not admit rds.{region}: RDS snapshot copies fail",
                    "admits RDS snapshot copies",
                )
            )
    return out


def _object_checksums(g: PlanGraph) -> list[Outcome]:
    out = []
    for obj in g.of("aws:s3/bucketObjectv2:BucketObjectv2", "aws:s3/bucketObject:BucketObject"):
        for bucket in _refs(g, obj, "bucket", BUCKET):
            if bucket.inputs.get("objectLockEnabled"):
                out.append(
                    resource_outcome(
                        obj,
                        None
                        if obj.inputs.get("checksumAlgorithm")
                        else f"{bucket.name} has object lock: PutObject needs a checksum",
                        "checksum set",
                    )
                )
    return out or [Outcome("stack", "skipped", "not applicable: no object in an object-lock bucket")]


def _config_rules_apply(g: PlanGraph) -> list[Outcome]:
    classic = bool(g.of("aws:elb/loadBalancer:LoadBalancer"))
    inline = bool(g.of("aws:iam/rolePolicy:RolePolicy"))
    out = []
    for rule in g.of("aws:cfg/rule:Rule"):
        ident = (rule.inputs.get("source") or {}).get("sourceIdentifier")
        if ident in CLASSIC_ELB_RULES and not classic:
            failure = f"{ident} evaluates Classic Load Balancers only: this stack has none"
        elif ident == "IAM_NO_INLINE_POLICY_CHECK" and inline:
            failure = f"{ident} flags the stack's own least-privilege inline policies"
        else:
            failure = None
        out.append(resource_outcome(rule, failure, "applies to resources of this stack"))
    return out or [Outcome("stack", "skipped", "not applicable: no Config rule")]


# (resource type, input path, botocore service, shape): enumerations AWS validates on create.
ENUMS = (
    ("aws:guardduty/detectorFeature:DetectorFeature", "name", "guardduty", "DetectorFeature"),
    (LISTENER, "protocol", "elbv2", "ProtocolEnum"),
    ("aws:lb/targetGroup:TargetGroup", "protocol", "elbv2", "ProtocolEnum"),
    (LB, "loadBalancerType", "elbv2", "LoadBalancerTypeEnum"),
    ("aws:acm/certificate:Certificate", "keyAlgorithm", "acm", "KeyAlgorithm"),
    ("aws:cfg/rule:Rule", "source.owner", "config", "Owner"),
    ("aws:guardduty/detector:Detector", "findingPublishingFrequency", "guardduty", "FindingPublishingFrequency"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "comparisonOperator", "cloudwatch", "ComparisonOperator"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "statistic", "cloudwatch", "Statistic"),
    ("aws:efs/fileSystem:FileSystem", "performanceMode", "efs", "PerformanceMode"),
    ("aws:efs/fileSystem:FileSystem", "throughputMode", "efs", "ThroughputMode"),
    ("aws:ec2/flowLog:FlowLog", "trafficType", "ec2", "TrafficType"),
    ("aws:ec2/launchTemplate:LaunchTemplate", "blockDeviceMappings.*.ebs.volumeType", "ec2", "VolumeType"),
)


def botocore_enum(service: str, shape: str) -> frozenset[str]:
    """The values botocore's model of `service` enumerates for `shape` (KeyError if the model enumerates none)."""
    return enum_values(service, shape)


def _dig(value: Any, path: str) -> list[Any]:
    """The values at a dotted path; `*` walks every item of a list."""
    if not path:
        return [] if value is None else [value]
    key, _, rest = path.partition(".")
    if key == "*":
        return [v for item in (value if isinstance(value, list) else []) for v in _dig(item, rest)]
    return _dig(value.get(key), rest) if isinstance(value, dict) else []


def _waf_values(node: Any) -> list[str]:
    """WAF statement values outside the WAFv2 API model's enumerations, anywhere in a rule tree."""
    if isinstance(node, list):
        return [bad for v in node for bad in _waf_values(v)]
    if not isinstance(node, dict):
        return []
    bad = []
    constraint = node.get("positionalConstraint")
    if constraint is not None and constraint not in botocore_enum("wafv2", "PositionalConstraint"):
        bad.append(f"positional constraint {constraint}")
    for t in node.get("textTransformations") or []:
        if t.get("type") not in botocore_enum("wafv2", "TextTransformationType"):
            bad.append(f"text transformation {t.get('type')}")
    return bad + [b for v in node.values() for b in _waf_values(v)]


def _waf_enums(g: PlanGraph) -> list[Outcome]:
    return [
        resource_outcome(acl, f"not in the WAFv2 API model: {', '.join(bad)}" if bad else None)
        for acl in g.of("aws:wafv2/webAcl:WebAcl")
        if (bad := _waf_values(acl.inputs.get("rules"))) is not None
    ]


def _enums(g: PlanGraph) -> list[Outcome]:
    out = []
    for typ, path, service, shape in ENUMS:
        allowed = botocore_enum(service, shape)
        for res in g.of(typ):
            for value in _dig(res.inputs, path):
                failure = f"{path}={value!r} is not a {service} {shape} ({', '.join(sorted(allowed))})"
                out.append(
                    resource_outcome(res, None if value in allowed else failure, f"{path}={value} per the API model")
                )
    return out + _waf_enums(g)


def _rule(rid: str, title: str, severity: str, why: str, fix: str, pages: tuple[str, ...], check: Any) -> Control:
    return Control(
        id=rid,
        title=title,
        family="deployability",
        severity=severity,
        rationale=why,
        remediation=fix,  # type: ignore[arg-type]
        citations=_aws(*pages),
        plan=StackCheck(check),
    )


CONTROLS = [
    _rule(
        "DEP-CERT-ISSUED",
        "HTTPS listeners wait for an issued certificate",
        "critical",
        "CreateListener refuses a certificate still pending validation (UnsupportedCertificate).",
        "Set web.route53_zone_id (record + CertificateValidation, listener takes its ARN) or web.certificate_arn.",
        (
            "acm/latest/userguide/dns-validation.html",
            "elasticloadbalancing/latest/application/https-listener-certificates.html",
        ),
        _certificate_issued,
    ),
    _rule(
        "DEP-RDS-VERSION",
        "The database engine version can be created and stays patched",
        "high",
        "RDS no longer creates old minors (PostgreSQL 16.1-16.8); a pinned minor also fights automatic upgrades.",
        "Give database.engine_version as a supported major; keep auto_minor_version_upgrade on.",
        (
            "AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-versions.html",
            "AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html",
            "AmazonRDS/latest/UserGuide/USER_UpgradeDBInstance.Upgrading.html",
        ),
        _rds_version,
    ),
    _rule(
        "DEP-SLR-BEFORE-KEY",
        "Service-linked roles exist before a key policy names them",
        "critical",
        "CreateKey fails (MalformedPolicyDocumentException) when the policy names a role that does not exist.",
        "Create the ServiceLinkedRole in the stack and make the key depend on it, or set "
        "account.autoscaling_service_role: existing.",
        (
            "autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
            "kms/latest/developerguide/key-policy-overview.html",
        ),
        _service_linked_roles,
    ),
    _rule(
        "DEP-S3-LOG-DESTINATION",
        "Server access logs go to an SSE-S3 bucket without object lock",
        "critical",
        "S3 refuses a server access log destination with object lock or a default retention.",
        "Deliver access logs to a versioned, TLS-only SSE-S3 bucket whose retention is a lifecycle rule.",
        (
            "AmazonS3/latest/userguide/enable-server-access-logging.html",
            "AmazonS3/latest/userguide/troubleshooting-server-access-logging.html",
        ),
        _s3_log_destination,
    ),
    _rule(
        "DEP-ALB-LOG-DESTINATION",
        "ALB access logs go to an SSE-S3 bucket",
        "high",
        "Elastic Load Balancing writes access logs only to buckets encrypted with SSE-S3.",
        "Point access_logs at the SSE-S3 log sink.",
        ("elasticloadbalancing/latest/application/enable-access-logging.html",),
        _alb_log_destination,
    ),
    _rule(
        "DEP-CONFIG-DESTINATION",
        "The Config delivery channel writes to a bucket without object lock",
        "critical",
        "AWS Config does not support a delivery channel to an S3 bucket where object lock is enabled.",
        "Deliver Config to its own versioned, TLS-only SSE-KMS bucket whose retention is a lifecycle rule.",
        (
            "AWSCloudFormation/latest/UserGuide/aws-resource-config-deliverychannel.html",
            "config/latest/developerguide/s3-bucket-policy.html",
        ),
        _config_destination,
    ),
    _rule(
        "DEP-ORDER-S3-LOGGING",
        "Bucket logging is enabled after the destination's policy",
        "high",
        "PutBucketLogging checks that the destination's policy admits logging.s3.amazonaws.com.",
        "depends_on the destination bucket's BucketPolicy.",
        ("AmazonS3/latest/userguide/enable-server-access-logging.html",),
        _order_s3_logging,
    ),
    _rule(
        "DEP-ORDER-ALB-LOGS",
        "The ALB is created after its log bucket's policy",
        "high",
        "Enabling access logs writes a test object: the bucket policy must admit ELB log delivery first.",
        "depends_on the log bucket's BucketPolicy.",
        ("elasticloadbalancing/latest/application/enable-access-logging.html",),
        _order_alb_logs,
    ),
    _rule(
        "DEP-ORDER-TRAIL",
        "The trail is created after its bucket policy and role policy",
        "high",
        "CreateTrail fails with InsufficientS3BucketPolicy or InvalidCloudWatchLogsRoleArn otherwise.",
        "depends_on the logs bucket's policy and the CloudWatch Logs role's policy.",
        (
            "awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html",
            "awscloudtrail/latest/userguide/send-cloudtrail-events-to-cloudwatch-logs.html",
        ),
        _order_trail,
    ),
    _rule(
        "DEP-ORDER-FLOW-LOGS",
        "Flow logs are created after their role's policy",
        "medium",
        "CreateFlowLogs delivers nothing (access error) when the role cannot yet write the log group.",
        "depends_on the flow-log role's policy.",
        ("vpc/latest/userguide/flow-logs-iam-role.html",),
        _order_flow_logs,
    ),
    _rule(
        "DEP-ORDER-CONFIG",
        "The Config delivery channel is created after its bucket and role policies",
        "high",
        "PutDeliveryChannel fails (InsufficientDeliveryPolicyException) before the policies exist.",
        "depends_on the Config bucket's policy and the recorder role's policy.",
        ("config/latest/developerguide/s3-bucket-policy.html", "config/latest/developerguide/iamrole-permissions.html"),
        _order_config,
    ),
    _rule(
        "DEP-COGNITO-SCOPES",
        "ALB sign-in asks Cognito for scopes that carry the role attribute",
        "high",
        "With a scope besides openid and profile (email, phone), userInfo returns only those claims: custom:pacs_role "
        "never arrives.",
        "Use scope 'openid' (or 'openid profile') on the listener, and allow those scopes on the app client.",
        (
            "cognito/latest/developerguide/userinfo-endpoint.html",
            "elasticloadbalancing/latest/application/listener-authenticate-users.html",
        ),
        _cognito_scopes,
    ),
    _rule(
        "DEP-COGNITO-DOMAIN",
        "The Cognito prefix domain is not the bare stack-derived default",
        "high",
        "Prefix domains are unique across all AWS accounts in a region: a name derived from the stack alone is "
        "taken by the first adopter, and CreateUserPoolDomain fails for the next.",
        "Leave identity.domain_prefix unset (the stack adds a hash of account and stack) or give a unique one.",
        ("cognito/latest/developerguide/cognito-user-pools-assign-domain-prefix.html",),
        _cognito_domain,
    ),
    _rule(
        "DEP-COGNITO-REFRESH-ROTATION",
        "App clients that rotate refresh tokens do not list the REFRESH_TOKEN_AUTH flow",
        "high",
        "Cognito documents refresh-token rotation as incompatible with REFRESH_TOKEN_AUTH: a rotating client must "
        "not enable that flow; it refreshes through the token endpoint's refresh_token grant instead.",
        "Drop ALLOW_REFRESH_TOKEN_AUTH from explicit_auth_flows of every client with refresh_token_rotation ENABLED.",
        (
            "cognito/latest/developerguide/amazon-cognito-user-pools-using-the-refresh-token.html",
            "cognito-user-identity-pools/latest/APIReference/API_RefreshTokenRotationType.html",
        ),
        _refresh_rotation_flows,
    ),
    _rule(
        "DEP-ALB-IDP-EGRESS",
        "An authenticating ALB can reach its identity provider",
        "critical",
        "The ALB calls the IdP's token and userInfo endpoints itself; without HTTPS egress every sign-in fails.",
        "Add egress tcp/443 from the ALB's security group (Cognito publishes no narrower ranges).",
        ("elasticloadbalancing/latest/application/listener-authenticate-users.html",),
        _idp_egress,
    ),
    _rule(
        "DEP-HEALTH-CHECK-SOURCES",
        "The host firewall admits the load balancer subnets",
        "critical",
        "NLB health checks and ALB traffic come from the load balancer subnets; dropped checks make a fail-open NLB.",
        "Put the load balancer subnets in the host profile's lb_cidrs (nftables admits them on HTTPS and DICOM).",
        (
            "elasticloadbalancing/latest/network/target-group-health-checks.html",
            "elasticloadbalancing/latest/application/target-group-health-checks.html",
        ),
        _health_check_sources,
    ),
    _rule(
        "DEP-HOSPITAL-ROUTES",
        "Private route tables route to every hospital network",
        "high",
        "Replies to private client networks follow the default route to the NAT and are lost.",
        "Set connectivity.transit_gateway_id or vpn_gateway_id: routes to each client network are added.",
        ("vpc/latest/tgw/tgw-vpc-attachments.html", "vpc/latest/userguide/VPC_Route_Tables.html"),
        _hospital_routes,
    ),
    _rule(
        "DEP-CMOVE-EGRESS",
        "Hosts can open C-MOVE associations to their destinations",
        "high",
        "A C-MOVE makes the PACS connect out to the destination modality; without egress every retrieve fails.",
        "Egress from the hosts' group to each move destination's address and port.",
        ("vpc/latest/userguide/security-group-rules.html",),
        _move_egress,
    ),
    _rule(
        "DEP-BACKUP-COPY-KEY",
        "The backup keys admit RDS snapshot copies",
        "high",
        "A cross-region copy of an RDS recovery point is made by RDS with the vault key (kms:ViaService rds).",
        "Add rds.<region>.amazonaws.com to the backups key's kms:ViaService list.",
        ("aws-backup/latest/devguide/encryption.html", "AmazonRDS/latest/UserGuide/USER_CopySnapshot.html"),
        _backup_copy_key,
    ),
    _rule(
        "DEP-OBJECT-LOCK-CHECKSUM",
        "Objects written to object-lock buckets carry a checksum",
        "medium",
        "S3 refuses PutObject to a bucket with object lock without Content-MD5 or an SDK checksum.",
        "Set checksum_algorithm on the object.",
        ("AmazonS3/latest/userguide/object-lock-managing.html",),
        _object_checksums,
    ),
    _rule(
        "DEP-CONFIG-RULES-APPLY",
        "Config rules evaluate resources this stack has",
        "medium",
        "A Classic-ELB rule or one flagging the stack's own inline policies checks nothing useful.",
        "Use rules for ALBs (ELBV2_ACM_CERTIFICATE_REQUIRED) and admin-access policies instead.",
        ("config/latest/developerguide/managed-rules-by-aws-config.html",),
        _config_rules_apply,
    ),
    _rule(
        "DEP-API-ENUMS",
        "Enumerated values are ones the AWS API accepts",
        "high",
        "A value outside the API's enumeration fails at create time; mocks accept it.",
        "Use a value from the botocore service model named in the finding.",
        (
            "acm/latest/APIReference/API_RequestCertificate.html",
            "elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html",
            "waf/latest/APIReference/API_CreateWebACL.html",
        ),
        _enums,
    ),
]
