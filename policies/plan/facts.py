"""Plan adapters: the synthesised graph (policies.graph) -> typed facts, one function per resource kind.

pulumi-aws v7 splits one logical thing into several resources (a bucket's encryption and policy); the joins follow
property dependencies (policies.graph.PlanGraph.parts/referenced), which mocks and a real preview both provide."""

from __future__ import annotations

from typing import Any

from policies.facts import cognito
from policies.facts import resources as facts
from policies.facts.backup_selection import Selection, conditions
from policies.facts.predicates import customer_key, merged_policy, world_port
from policies.facts.resources import DECLARED, DELEGATED
from policies.graph import PlanGraph, Res, as_list, policy_doc

LOG_SINK_TAG = "pacsguard:log-sink"
DATA_CLASS_TAG = "pacsguard:data-class"
SSE_CONFIG = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
AWS_MANAGED_POLICY = "arn:aws:iam::aws:policy/"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
GROUPS = ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
WORLD = ("0.0.0.0/0", "::/0")
CLIENT = "aws:cognito/userPoolClient:UserPoolClient"
LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
RULE_TYPES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
METRIC_FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
DYNAMIC = "pulumi-python:dynamic:Resource"  # resources the program manages through its own AWS calls
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
# The public access block's four flags: the API's name -> the Pulumi input's.
PAB_FLAGS = {
    "BlockPublicAcls": "blockPublicAcls",
    "BlockPublicPolicy": "blockPublicPolicy",
    "IgnorePublicAcls": "ignorePublicAcls",
    "RestrictPublicBuckets": "restrictPublicBuckets",
}


def _true(value: Any) -> bool:
    """Launch template inputs carry booleans as strings ("true")."""
    return str(value).lower() == "true"


def buckets(g: PlanGraph) -> list[facts.Bucket]:
    out = []
    for b in g.of("aws:s3/bucket:Bucket"):
        rules = [r for conf in g.parts(b, SSE_CONFIG, "bucket") for r in conf.inputs.get("rules") or []]
        default = (rules[0].get("applyServerSideEncryptionByDefault") or {}) if rules else {}
        policies = [policy_doc(p.inputs.get("policy")) for p in g.parts(b, BUCKET_POLICY, "bucket")]
        blocks = g.parts(b, PUBLIC_ACCESS_BLOCK, "bucket")
        locks = g.parts(b, OBJECT_LOCK, "bucket")
        expirations = [
            (r.get("expiration") or {}).get("days")
            for lc in g.parts(b, LIFECYCLE, "bucket")
            for r in lc.inputs.get("rules") or []
            if r.get("status") == "Enabled"
        ]
        out.append(
            facts.Bucket(
                name=b.name,
                environment=g.environment,
                data_class=b.tags.get(DATA_CLASS_TAG),
                sse_algorithm=default.get("sseAlgorithm") if rules else None,
                kms_key=default.get("kmsMasterKeyId"),
                bucket_key=bool(rules and rules[0].get("bucketKeyEnabled")),
                log_sink=bool(b.tags.get(LOG_SINK_TAG)),
                versioning=any(
                    (v.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled"
                    for v in g.parts(b, "aws:s3/bucketVersioning:BucketVersioning", "bucket")
                ),
                public_access_block=frozenset(
                    api for api, arg in PAB_FLAGS.items() if any(blk.inputs.get(arg) for blk in blocks)
                ),
                object_lock=bool(b.inputs.get("objectLockEnabled")),
                lock_mode=(((locks[0].inputs.get("rule") or {}).get("defaultRetention") or {}) if locks else {}).get(
                    "mode"
                ),
                lifecycle_days=min((int(d) for d in expirations if d), default=None),
                access_logging=bool(g.parts(b, "aws:s3/bucketLogging:BucketLogging", "bucket")),
                policy=merged_policy(policies),
            )
        )
    return out


def keys(g: PlanGraph) -> list[facts.Key]:
    return [
        facts.Key(k.name, bool(k.inputs.get("enableKeyRotation")), policy_doc(k.inputs.get("policy")))
        for k in g.of("aws:kms/key:Key")
    ]


def key_lifecycles(g: PlanGraph) -> list[facts.KeyLifecycle]:
    """A key the program declares disabled (is_enabled=False); deletion is never planned."""
    return [
        facts.KeyLifecycle(k.name, "Disabled" if k.inputs.get("isEnabled") is False else "Enabled")
        for k in g.of("aws:kms/key:Key")
    ]


def databases(g: PlanGraph) -> list[facts.Database]:
    out = []
    for db in g.of("aws:rds/instance:Instance"):
        groups = g.referenced(db, "parameterGroupName")
        params = {p.get("name"): str(p.get("value")) for grp in groups for p in grp.inputs.get("parameters") or []}
        cidrs = [
            cidr
            for sg in g.referenced(db, "vpcSecurityGroupIds")
            for rule in g.parts(sg, INGRESS_RULE, "securityGroupId")
            for cidr in (rule.inputs.get("cidrIpv4"), rule.inputs.get("cidrIpv6"))
            if cidr
        ]
        out.append(
            facts.Database(
                name=db.name,
                environment=g.environment,
                encrypted=bool(db.inputs.get("storageEncrypted")),
                kms_key=db.inputs.get("kmsKeyId"),
                force_ssl=params.get("rds.force_ssl") == "1",
                deletion_protection=bool(db.inputs.get("deletionProtection")),
                multi_az=bool(db.inputs.get("multiAz")),
                publicly_accessible=bool(db.inputs.get("publiclyAccessible")),
                admitted_cidrs=tuple(cidrs),
                log_exports=tuple(db.inputs.get("enabledCloudwatchLogsExports") or ()),
                password_managed=bool(db.inputs.get("manageMasterUserPassword")),
                secret_rotates=bool(db.inputs.get("manageMasterUserPassword")),
                backup_retention_days=int(db.inputs.get("backupRetentionPeriod") or 0),
            )
        )
    return out


def file_systems(g: PlanGraph) -> list[facts.FileSystem]:
    out = []
    for fs in g.of("aws:efs/fileSystem:FileSystem"):
        parts = g.parts(fs, "aws:efs/fileSystemPolicy:FileSystemPolicy", "fileSystemId")
        policy = merged_policy([policy_doc(p.inputs.get("policy")) for p in parts])
        out.append(facts.FileSystem(fs.name, bool(fs.inputs.get("encrypted")), fs.inputs.get("kmsKeyId"), policy))
    return out


def ebs_default(g: PlanGraph) -> list[facts.EbsDefault]:
    enc = g.of("aws:ebs/encryptionByDefault:EncryptionByDefault")
    key = g.of("aws:ebs/defaultKmsKey:DefaultKmsKey")
    if not enc or not enc[0].inputs.get("enabled"):
        return [facts.EbsDefault("account", False, None)]
    return [facts.EbsDefault(enc[0].name, True, key[0].inputs.get("keyArn") if key else None)]


def volumes(g: PlanGraph) -> list[facts.Volume]:
    """The volumes the stack's launch templates give every host (the plan cannot see volumes made later)."""
    out = []
    for lt in g.of("aws:ec2/launchTemplate:LaunchTemplate"):
        for bdm in lt.inputs.get("blockDeviceMappings") or []:
            ebs = bdm.get("ebs") or {}
            key = ebs.get("kmsKeyId")
            name = f"{lt.name}:{bdm.get('deviceName', '')}"  # a launch template gives each host several volumes
            out.append(facts.Volume(name, _true(ebs.get("encrypted")), key, customer_key(key)))
    return out


def _encrypted(g: PlanGraph, token: str, key_input: str) -> list[facts.EncryptedResource]:
    return [facts.EncryptedResource(r.name, r.inputs.get(key_input)) for r in g.of(token)]


def log_groups(g: PlanGraph) -> list[facts.LogGroup]:
    return [
        facts.LogGroup(
            lg.name, g.environment, lg.inputs.get("kmsKeyId"), int(lg.inputs.get("retentionInDays") or 0) or None
        )
        for lg in g.of("aws:cloudwatch/logGroup:LogGroup")
    ]


def load_balancers(g: PlanGraph) -> list[facts.LoadBalancer]:
    out = []
    associations = g.of("aws:wafv2/webAclAssociation:WebAclAssociation")
    for lb in g.of("aws:lb/loadBalancer:LoadBalancer"):
        acls = [acl for a in associations if a.depends_on("resourceArn", lb) for acl in g.referenced(a, "webAclArn")]
        rules = (acls[0].inputs.get("rules") or []) if acls else []
        statements_ = [r.get("statement") or {} for r in rules]
        out.append(
            facts.LoadBalancer(
                lb.name,
                lb.inputs.get("loadBalancerType") or "application",
                bool(lb.inputs.get("dropInvalidHeaderFields")),
                bool((lb.inputs.get("accessLogs") or {}).get("enabled")),
                tuple((st.get("managedRuleGroupStatement") or {}).get("name") or "" for st in statements_)
                if acls
                else None,
                any(st.get("rateBasedStatement") for st in statements_),
            )
        )
    return out


def secrets(g: PlanGraph) -> list[facts.EncryptedResource]:
    return _encrypted(g, "aws:secretsmanager/secret:Secret", "kmsKeyId")


def topics(g: PlanGraph) -> list[facts.EncryptedResource]:
    return _encrypted(g, "aws:sns/topic:Topic", "kmsMasterKeyId")


def vaults(g: PlanGraph) -> list[facts.Vault]:
    out = []
    locks = g.of("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    for v in g.of("aws:backup/vault:Vault"):
        mine = [lk for lk in locks if lk.depends_on("backupVaultName", v)]
        compliance = bool(mine) and mine[0].inputs.get("changeableForDays") is not None
        out.append(facts.Vault(v.name, g.environment, v.inputs.get("kmsKeyArn"), bool(mine), compliance))
    return out


def trails(g: PlanGraph) -> list[facts.Trail]:
    out = []
    for t in g.of("aws:cloudtrail/trail:Trail"):
        i = t.inputs
        out.append(
            facts.Trail(
                t.name,
                i.get("kmsKeyId"),
                multi_region=bool(i.get("isMultiRegionTrail")),
                log_validation=bool(i.get("enableLogFileValidation")),
                cloudwatch_logs=bool(i.get("cloudWatchLogsGroupArn")),
                logging=i.get("enableLogging") is not False,
            )
        )
    return out


def phi_buckets(g: PlanGraph) -> list[facts.PhiBucket]:
    """PHI buckets and whether a trail's data-event selector covers their objects (all buckets, or by ARN: the
    selector then depends on exactly those buckets)."""
    trails_ = g.of("aws:cloudtrail/trail:Trail")
    all_objects, watched = False, set()
    for t in trails_:
        for sel in t.inputs.get("advancedEventSelectors") or []:
            fields = {f.get("field"): f for f in sel.get("fieldSelectors") or []}
            if "Data" in (fields.get("eventCategory") or {}).get("equals", []) and "resources.ARN" not in fields:
                all_objects = True
        watched.update(t.property_dependencies.get("advancedEventSelectors", []))
    return [
        facts.PhiBucket(b.name, bool(trails_) and (all_objects or b.urn in watched))
        for b in g.of("aws:s3/bucket:Bucket")
        if b.tags.get(DATA_CLASS_TAG) == "phi"
    ]


def detectors(g: PlanGraph) -> list[facts.Detector]:
    declared = [d for d in g.of("aws:guardduty/detector:Detector") if d.inputs.get("enable", True)]
    if not declared:
        return [facts.Detector("account", False, (), DELEGATED if "guardduty" in g.existing_services else DECLARED)]
    features = {
        f.inputs.get("name")
        for f in g.of("aws:guardduty/detectorFeature:DetectorFeature")
        if f.inputs.get("status") == "ENABLED"
    }
    return [facts.Detector(declared[0].name, True, tuple(sorted(str(f) for f in features)))]


def recorders(g: PlanGraph) -> list[facts.Recorder]:
    declared = g.of("aws:cfg/recorder:Recorder")
    if not declared:
        return [
            facts.Recorder("account", False, False, False, DELEGATED if "config" in g.existing_services else DECLARED)
        ]
    rec = declared[0]
    started = any(s.inputs.get("isEnabled") for s in g.of("aws:cfg/recorderStatus:RecorderStatus"))
    return [facts.Recorder(rec.name, True, bool((rec.inputs.get("recordingGroup") or {}).get("allSupported")), started)]


def protected(g: PlanGraph) -> list[facts.Protected]:
    """The index database, the image store (file system or persistent volume), and whether a backup selection assigns
    each by AWS's rule: named in `resources` (the selection depends on it, or a pattern matches its ARN) AND carrying
    the `conditions`' tags, or tagged as `selectionTags` ask, and not in `notResources`."""
    plans = len(g.of("aws:backup/plan:Plan"))
    chosen = [(sel, _selection(sel.inputs)) for sel in g.of("aws:backup/selection:Selection")]

    def in_list(sel: Res, r: Res, key: str) -> bool:
        # A resource's ARN is unknown before it exists: a selection names it by depending on it, or by "*". Other
        # wildcard ARNs are judged by the account layer, which sees the ARNs.
        return r.urn in sel.property_dependencies.get(key, []) or "*" in as_list(sel.inputs.get(key))

    return [
        facts.Protected(
            r.name,
            plans,
            any(
                rule.assigns(
                    named=in_list(sel, r, "resources"),
                    excluded=in_list(sel, r, "notResources"),
                    tags=r.inputs.get("tags") or {},
                )
                for sel, rule in chosen
            ),
        )
        for r in g.of("aws:rds/instance:Instance", "aws:efs/fileSystem:FileSystem", "aws:ebs/volume:Volume")
    ]


def _selection(i: dict[str, Any]) -> Selection:
    """pulumi-aws's Selection inputs (conditions: [{stringEquals: [{key, value}], ...}]) in AWS's terms."""
    ops = {"stringEquals": "StringEquals", "stringLikes": "StringLike", "stringNotEquals": "StringNotEquals",
           "stringNotLikes": "StringNotLike"}  # fmt: skip
    pairs: dict[str, list[tuple[str, str]]] = {}
    for block in as_list(i.get("conditions")):
        for key, op in ops.items():
            pairs.setdefault(op, []).extend((c.get("key", ""), c.get("value", "")) for c in as_list(block.get(key)))
    return Selection(
        has_resources=bool(as_list(i.get("resources"))),
        conditions=conditions(pairs),
        list_of_tags=tuple(
            (t.get("key", ""), t.get("value", ""))
            for t in as_list(i.get("selectionTags"))
            if str(t.get("type", "")).upper() == "STRINGEQUALS"
        ),
    )


def _ingress_world_ports(i: dict[str, Any]) -> list[str]:
    sources = [i.get("cidrIpv4"), i.get("cidrIpv6"), *as_list(i.get("cidrBlocks")), *as_list(i.get("ipv6CidrBlocks"))]
    if i.get("type") not in (None, "ingress") or not set(sources) & set(WORLD):
        return []
    return [world_port(i.get("ipProtocol", i.get("protocol")), i.get("fromPort"), i.get("toPort"))]


def security_groups(g: PlanGraph) -> list[facts.SecurityGroup]:
    """Each group with its standalone and inline ingress rules; a rule on a group the program does not declare is
    judged as its own group."""
    out, claimed = [], set()
    for sg in g.of(*GROUPS):
        rules = g.parts(sg, INGRESS_RULE, "securityGroupId") + g.parts(sg, LEGACY_RULE, "securityGroupId")
        claimed |= {r.urn for r in rules}
        ports = [p for r in rules for p in _ingress_world_ports(r.inputs)]
        ports += [p for ing in sg.inputs.get("ingress") or [] for p in _ingress_world_ports(ing)]
        out.append(facts.SecurityGroup(sg.name, tuple(ports)))
    for rule in g.of(INGRESS_RULE, LEGACY_RULE):
        if rule.urn not in claimed:
            out.append(facts.SecurityGroup(rule.name, tuple(_ingress_world_ports(rule.inputs))))
    return out


def _login_actions(g: PlanGraph) -> list[tuple[Res, dict[str, Any]]]:
    return [
        (lst, a["authenticateCognito"])
        for lst in g.of(*LISTENER_TYPES)
        for a in lst.inputs.get("defaultActions") or []
        if a.get("authenticateCognito")
    ]


def login_listeners(g: PlanGraph) -> list[facts.LoginListener]:
    return [
        facts.LoginListener(
            lst.name,
            dict(auth.get("authenticationRequestExtraParams") or {}),
            (auth.get("sessionTimeout") or 0) / 60 or cognito.DEFAULT_SESSION_MINUTES,
        )
        for lst, auth in _login_actions(g)
    ]


def _verifies_pool_jwt(rule: Res) -> bool:
    for a in rule.inputs.get("actions") or []:
        jwt = a.get("jwtValidation") or {}
        if a.get("type") == "jwt-validation" and str(jwt.get("issuer", "")).startswith("https://cognito-idp."):
            return bool(jwt.get("jwksEndpoint"))
    return False


def app_clients(g: PlanGraph) -> list[facts.AppClient]:
    sessions = [
        (auth.get("sessionTimeout") or 0) / 60 or cognito.DEFAULT_SESSION_MINUTES for _, auth in _login_actions(g)
    ]
    jwt = any(_verifies_pool_jwt(r) for r in g.of(*RULE_TYPES))
    out = []
    for r in g.of(CLIENT):
        i = r.inputs
        session = _login_session(g, r)
        units = i.get("tokenValidityUnits") or {}
        out.append(
            facts.AppClient(
                name=r.name,
                flows=tuple(i.get("allowedOauthFlows") or ()),
                scopes=tuple(i.get("allowedOauthScopes") or ()),
                secret=bool(i.get("generateSecret")),
                minutes={
                    k: cognito.lifetime(i.get(f"{k}TokenValidity"), units.get(f"{k}Token"), k)
                    for k in cognito.DEFAULT_MINUTES
                },
                rotation=(i.get("refreshTokenRotation") or {}).get("feature") == "ENABLED",
                session_minutes=min(sessions) if sessions else None,
                jwt_verified=jwt,
                sso_reuse_minutes=(
                    session.inputs.get("sso_reuse_minutes")
                    if session and session.inputs.get("tracking") == "ENABLED"
                    else None
                ),
            )
        )
    return out


def _login_session(g: PlanGraph, client: Res) -> Res | None:
    """The dynamic resource that sets this client's SSO-session reuse (infra/login_session.py), joined to the client
    through its client_id."""
    for r in g.of(DYNAMIC):
        if r.inputs.get("purpose") == cognito.LOGIN_SESSION_PURPOSE and r.depends_on("client_id", client):
            return r
    return None


def listener_rules(g: PlanGraph) -> list[facts.ListenerRule]:
    out = []
    for rule in g.of(*RULE_TYPES):
        actions = sorted(rule.inputs.get("actions") or [], key=lambda a: a.get("order") or 0)
        out.append(facts.ListenerRule(rule.name, cognito.forwards_unverified([str(a.get("type")) for a in actions])))
    return out


def emergency_access(g: PlanGraph) -> list[facts.EmergencyAccess]:
    sealed = tuple(
        (s.name, customer_key(s.inputs.get("kmsKeyId")))
        for s in g.of("aws:secretsmanager/secret:Secret")
        if s.tags.get("pacsguard:purpose") == cognito.BREAK_GLASS_PURPOSE
    )
    group = any(gr.inputs.get("name") == cognito.EMERGENCY_GROUP for gr in g.of("aws:cognito/userGroup:UserGroup"))
    filters = {f.inputs.get("name") for f in g.of(METRIC_FILTER)}
    alarms = {a.inputs.get("metricName"): a for a in g.of(METRIC_ALARM)}
    alarmed = tuple(
        m for m in cognito.EMERGENCY_METRICS if m in filters and m in alarms and alarms[m].inputs.get("alarmActions")
    )
    return [facts.EmergencyAccess("stack", sealed, group, alarmed)]


def _passkey_factor(g: PlanGraph, pool: Res) -> Res | None:
    """The dynamic resource that makes the pool's passkeys count as MFA and lists them as a first factor
    (infra/passkey_factor.py), joined to the pool through its user_pool_id."""
    for r in g.of(DYNAMIC):
        if r.inputs.get("purpose") == cognito.PASSKEY_FACTOR_PURPOSE and r.depends_on("user_pool_id", pool):
            return r
    return None


def passkey_pools(g: PlanGraph) -> list[facts.Passkeys]:
    out = []
    for pool in g.of("aws:cognito/userPool:UserPool"):
        i, tags = pool.inputs, pool.tags
        declared = (i.get("signInPolicy") or {}).get("allowedFirstAuthFactors") or ["PASSWORD"]
        factor = _passkey_factor(g, pool)
        factors = (factor.inputs.get("first_factors") if factor else None) or declared
        wa = i.get("webAuthnConfiguration")
        webauthn = (
            {
                "relying_party": wa.get("relyingPartyId"),
                "user_verification": wa.get("userVerification"),
                "mfa_required": i.get("mfaConfiguration") == "ON",
                "factor": factor.inputs.get("factor") if factor else None,
                # What the pool itself is created with: AWS refuses WEB_AUTHN there before the factor is set.
                "created_first_factors": list(declared),
            }
            if wa
            else {}
        )
        out.append(
            facts.Passkeys(
                pool.name, tags.get("pacsguard:passkeys"), i.get("userPoolTier") or "", tuple(factors), webauthn
            )
        )
    return out


def listeners(g: PlanGraph) -> list[facts.Listener]:
    out = []
    for lst in g.of("aws:lb/listener:Listener"):
        actions = lst.inputs.get("defaultActions") or []
        redirects = bool(actions) and all(
            a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS" for a in actions
        )
        out.append(facts.Listener(lst.name, lst.inputs.get("protocol"), lst.inputs.get("sslPolicy"), redirects))
    return out


def principals(g: PlanGraph) -> list[facts.Principal]:
    """The stack's roles with their inline policies, customer-managed policies (declared in the program) and the
    AWS-managed ones they attach by ARN."""
    out = []
    for role in g.of("aws:iam/role:Role"):
        docs = [(f"inline policy {p.name}", policy_doc(p.inputs.get("policy")))
                for p in g.parts(role, "aws:iam/rolePolicy:RolePolicy", "role")]  # fmt: skip
        docs += [(f"inline policy {p.get('name')}", policy_doc(p.get("policy")))
                 for p in role.inputs.get("inlinePolicies") or []]  # fmt: skip
        arns = [str(a) for a in role.inputs.get("managedPolicyArns") or []]
        for att in g.parts(role, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "role"):
            declared = g.referenced(att, "policyArn")
            if declared:
                docs += [(f"customer-managed policy {p.name}", policy_doc(p.inputs.get("policy"))) for p in declared]
            else:
                arns.append(str(att.inputs.get("policyArn") or ""))
        managed = tuple(a.rsplit("/", 1)[-1] for a in arns if a.startswith(AWS_MANAGED_POLICY))
        out.append(facts.Principal(role.name, tuple(docs), managed))
    return out


def hosts(g: PlanGraph) -> list[facts.Host]:
    out = []
    for lt in g.of("aws:ec2/launchTemplate:LaunchTemplate"):
        md = lt.inputs.get("metadataOptions") or {}
        public = any(_true(ni.get("associatePublicIpAddress")) for ni in lt.inputs.get("networkInterfaces") or [])
        hops = md.get("httpPutResponseHopLimit")
        out.append(facts.Host(lt.name, public, None, md.get("httpTokens"), int(hops) if hops else None))
    return out


def user_pools(g: PlanGraph) -> list[facts.UserPool]:
    out = []
    for pool in g.of("aws:cognito/userPool:UserPool"):
        i = pool.inputs
        length = (i.get("passwordPolicy") or {}).get("minimumLength")
        out.append(
            facts.UserPool(
                pool.name,
                i.get("mfaConfiguration"),
                bool((i.get("softwareTokenMfaConfiguration") or {}).get("enabled")),
                int(length) if length else None,
                bool((i.get("adminCreateUserConfig") or {}).get("allowAdminCreateUserOnly")),
            )
        )
    return out


def backup_plans(g: PlanGraph) -> list[facts.BackupPlan]:
    """Each plan with the regions its copy actions reach (the vaults its rules refer to, by their provider)."""
    out = []
    for p in g.of("aws:backup/plan:Plan"):
        rules = p.inputs.get("rules") or []
        copies = any(r.get("copyActions") for r in rules)
        vaults = [r for r in g.referenced(p, "rules") if r.type == "aws:backup/vault:Vault"]
        regions = sorted({v.provider_region for v in vaults if v.provider_region and v.provider_region != g.region})
        continuous = any(r.get("enableContinuousBackup") for r in rules)
        out.append(facts.BackupPlan(p.name, g.environment, tuple(regions) if copies else (), continuous))
    return out


def vpcs(g: PlanGraph) -> list[facts.Vpc]:
    logs = g.of("aws:ec2/flowLog:FlowLog")
    return [
        facts.Vpc(v.name, tuple(str(f.inputs.get("trafficType")) for f in logs if f.depends_on("vpcId", v)))
        for v in g.of("aws:ec2/vpc:Vpc")
    ]


def default_groups(g: PlanGraph) -> list[facts.DefaultGroup]:
    out = []
    for v in g.of("aws:ec2/vpc:Vpc"):
        mine = g.parts(v, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "vpcId")
        if not mine:
            out.append(facts.DefaultGroup(v.name, None))
            continue
        i = mine[0].inputs
        out.append(facts.DefaultGroup(mine[0].name, len(i.get("ingress") or []) + len(i.get("egress") or [])))
    return out
