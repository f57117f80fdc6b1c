"""Cloud collectors -> typed facts (policies.facts), one function per resource kind, the same kinds the plan
adapters (policies.plan.facts) produce. Each reads the per-service collectors (policies.cloud.collect), whose
boto3 calls are made once per audit (AwsApi caches them), and only the stack's own resources."""

from __future__ import annotations

from typing import Any

from policies.cloud.checks.backups import protected_resources, selects
from policies.cloud.collect import (
    audit_services,
    backup,
    data,
    ec2,
    edge,
    iam,
    identity,
    identity_clients,
    in_stack,
    kms,
    s3,
    tag_dict,
)
from policies.cloud.context import CloudContext
from policies.cloud.scope import stack_security_group_ids, stack_vpc_ids
from policies.facts import cognito
from policies.facts import resources as facts
from policies.facts.predicates import customer_key, world_port
from policies.plan.facts import DATA_CLASS_TAG, LOG_SINK_TAG, PAB_FLAGS


def is_stack_key(key: str | None, stack_keys: set[str]) -> bool:
    """AWS reports a resource's key as an ARN or a bare id: either names one of the stack's key ARNs."""
    return bool(key) and (key in stack_keys or any(str(key).endswith(k.rsplit("/", 1)[-1]) for k in stack_keys))


def buckets(cx: CloudContext) -> list[facts.Bucket]:
    out = []
    for b in s3.buckets(cx.api, cx.stack):
        rule = s3.encryption(cx.api, b["name"])
        default = (rule or {}).get("ApplyServerSideEncryptionByDefault") or {}
        pab = s3.public_access_block(cx.api, b["name"]) or {}
        lock = s3.object_lock(cx.api, b["name"]) or {}
        out.append(
            facts.Bucket(
                name=b["name"],
                environment=cx.environment,
                data_class=b["tags"].get(DATA_CLASS_TAG),
                sse_algorithm=default.get("SSEAlgorithm") if rule is not None else None,
                kms_key=default.get("KMSMasterKeyID"),
                bucket_key=bool((rule or {}).get("BucketKeyEnabled")),
                log_sink=bool(b["tags"].get(LOG_SINK_TAG)),
                versioning=s3.versioning(cx.api, b["name"]) == "Enabled",
                public_access_block=frozenset(flag for flag in PAB_FLAGS if pab.get(flag)),
                object_lock=lock.get("ObjectLockEnabled") == "Enabled",
                lock_mode=((lock.get("Rule") or {}).get("DefaultRetention") or {}).get("Mode"),
                lifecycle_days=s3.lifecycle_expiration_days(cx.api, b["name"]),
                access_logging=bool(s3.logging(cx.api, b["name"])),
                policy=s3.policy(cx.api, b["name"]),
            )
        )
    return out


def keys(cx: CloudContext) -> list[facts.Key]:
    """The stack's keys that are not on their way out (ENC-KMS-KEY-STATE judges those)."""
    return [
        facts.Key(k["id"], kms.rotation_enabled(cx.api, k["id"]), kms.key_policy(cx.api, k["id"]))
        for k in kms.keys(cx.api, cx.stack)
    ]


def key_lifecycles(cx: CloudContext) -> list[facts.KeyLifecycle]:
    """Every stack key, pending deletion and disabled ones included."""
    out = []
    for k in kms.all_keys(cx.api, cx.stack):
        when = k["meta"].get("DeletionDate")
        out.append(
            facts.KeyLifecycle(
                k["id"], k["meta"].get("KeyState", ""), when.strftime("%Y-%m-%d") if hasattr(when, "strftime") else None
            )
        )
    return out


def databases(cx: CloudContext) -> list[facts.Database]:
    groups = {g["GroupId"]: g for g in ec2.security_groups(cx.api)}
    out = []
    for db in data.db_instances(cx.api, cx.stack):
        params = [g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])]
        secret = (db.get("MasterUserSecret") or {}).get("SecretArn")
        rules = [
            p
            for sg in db.get("VpcSecurityGroups", [])
            for p in groups.get(sg["VpcSecurityGroupId"], {}).get("IpPermissions", [])
        ]
        cidrs = [r.get("CidrIp") for p in rules for r in p.get("IpRanges", [])] + [
            r.get("CidrIpv6") for p in rules for r in p.get("Ipv6Ranges", [])
        ]
        out.append(
            facts.Database(
                name=db["DBInstanceIdentifier"],
                environment=cx.environment,
                encrypted=bool(db.get("StorageEncrypted")),
                kms_key=db.get("KmsKeyId"),
                force_ssl=any(data.db_parameters(cx.api, g).get("rds.force_ssl") == "1" for g in params),
                deletion_protection=bool(db.get("DeletionProtection")),
                multi_az=bool(db.get("MultiAZ")),
                publicly_accessible=bool(db.get("PubliclyAccessible")),
                admitted_cidrs=tuple(c for c in cidrs if c),
                backup_retention_days=int(db.get("BackupRetentionPeriod") or 0),
                log_exports=tuple(db.get("EnabledCloudwatchLogsExports") or ()),
                password_managed=bool(secret),
                secret_rotates=bool(secret)
                and bool(cx.api.call("secretsmanager", "DescribeSecret", SecretId=secret).get("RotationEnabled")),
            )
        )
    return out


def file_systems(cx: CloudContext) -> list[facts.FileSystem]:
    return [
        facts.FileSystem(
            fs["FileSystemId"],
            bool(fs.get("Encrypted")),
            fs.get("KmsKeyId"),
            data.file_system_policy(cx.api, fs["FileSystemId"]),
        )
        for fs in data.file_systems(cx.api, cx.stack)
    ]


def ebs_default(cx: CloudContext) -> list[facts.EbsDefault]:
    if not ec2.ebs_encryption_by_default(cx.api):
        return [facts.EbsDefault("account", False, None)]
    return [facts.EbsDefault("account", True, ec2.ebs_default_key(cx.api) or None)]


def stack_volume_ids(cx: CloudContext) -> set[str]:
    """Volumes tagged with the stack or attached to its instances (an untagged data volume is still the stack's)."""
    tagged = {v["VolumeId"] for v in ec2.volumes(cx.api) if in_stack(v.get("Tags"), cx.stack)}
    attached = {
        m["Ebs"]["VolumeId"]
        for i in ec2.instances(cx.api, cx.stack)
        for m in i.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("VolumeId")
    }
    return tagged | attached


def volumes(cx: CloudContext) -> list[facts.Volume]:
    stack_keys = kms.stack_key_arns(cx.api, cx.stack)
    mine = stack_volume_ids(cx)
    return [
        facts.Volume(
            v["VolumeId"],
            bool(v.get("Encrypted")),
            v.get("KmsKeyId"),
            is_stack_key(v.get("KmsKeyId"), stack_keys),
        )
        for v in ec2.volumes(cx.api)
        if v["VolumeId"] in mine
    ]


def log_groups(cx: CloudContext) -> list[facts.LogGroup]:
    return [
        facts.LogGroup(g["logGroupName"], cx.environment, g.get("kmsKeyId"), g.get("retentionInDays"))
        for g in audit_services.log_groups(cx.api, cx.stack)
    ]


def load_balancers(cx: CloudContext) -> list[facts.LoadBalancer]:
    out = []
    for lb in edge.load_balancers(cx.api, cx.stack):
        kind = lb.get("Type") or "application"
        # Only an application load balancer can carry a web ACL: asking about another is an API error.
        acl = edge.web_acl_for(cx.api, lb["LoadBalancerArn"]) if kind == "application" else None
        statements_ = [r.get("Statement") or {} for r in (acl or {}).get("Rules", [])]
        out.append(
            facts.LoadBalancer(
                lb["LoadBalancerName"],
                kind,
                lb["attributes"].get("routing.http.drop_invalid_header_fields.enabled") == "true",
                lb["attributes"].get("access_logs.s3.enabled") == "true",
                tuple((st.get("ManagedRuleGroupStatement") or {}).get("Name") or "" for st in statements_)
                if acl
                else None,
                any(st.get("RateBasedStatement") for st in statements_),
            )
        )
    return out


def secrets(cx: CloudContext) -> list[facts.EncryptedResource]:
    return [facts.EncryptedResource(s["Name"], s.get("KmsKeyId")) for s in audit_services.secrets(cx.api, cx.stack)]


def topics(cx: CloudContext) -> list[facts.EncryptedResource]:
    return [
        facts.EncryptedResource(t["arn"].rsplit(":", 1)[-1], t["attributes"].get("KmsMasterKeyId"))
        for t in audit_services.topics(cx.api, cx.stack)
    ]


def vaults(cx: CloudContext) -> list[facts.Vault]:
    return [
        facts.Vault(
            v["BackupVaultName"],
            cx.environment,
            v.get("EncryptionKeyArn"),
            bool(v.get("Locked")),
            bool(v.get("Locked") and v.get("LockDate")),
        )
        for v in backup.vaults(cx.api, cx.stack)
    ]


def trails(cx: CloudContext) -> list[facts.Trail]:
    """Trails are account-wide: every one counts, whatever its tags (shadow trails asked of their home region)."""
    return [
        facts.Trail(
            t["Name"],
            t.get("KmsKeyId"),
            multi_region=bool(t.get("IsMultiRegionTrail")),
            log_validation=bool(t.get("LogFileValidationEnabled")),
            cloudwatch_logs=bool(t.get("CloudWatchLogsLogGroupArn")),
            logging=bool(t.get("IsLogging")),
        )
        for t in audit_services.trails(cx.api)
    ]


def _watched_objects(cx: CloudContext) -> tuple[bool, set[str]]:
    """(every bucket's objects are recorded, the bucket ARNs or prefixes some trail records data events of)."""
    watched: set[str] = set()
    everything = False
    for t in audit_services.trails(cx.api):
        sel = t["selectors"]
        for adv in sel.get("AdvancedEventSelectors", []) or []:
            fields = {f["Field"]: f for f in adv.get("FieldSelectors", [])}
            if "Data" not in fields.get("eventCategory", {}).get("Equals", []):
                continue
            arns = fields.get("resources.ARN", {}).get("StartsWith")
            everything = everything or arns is None
            watched.update(arns or [])
        for es in sel.get("EventSelectors", []) or []:
            for dr in es.get("DataResources", []) or []:
                watched.update(dr.get("Values", []))
    return everything, watched


def phi_buckets(cx: CloudContext) -> list[facts.PhiBucket]:
    phi = [b["name"] for b in s3.buckets(cx.api, cx.stack) if b["tags"].get(DATA_CLASS_TAG) == "phi"]
    if not phi:
        return []
    everything, watched = _watched_objects(cx)
    out = []
    for name in phi:
        own = f"arn:aws:s3:::{name}"
        # "arn:aws:s3" in a classic selector means every bucket; otherwise the bucket (or its prefix) is named.
        covered = everything or any(
            w in ("arn:aws:s3", "arn:aws:s3:::", own, own + "/") or w.startswith(own + "/") for w in watched
        )
        out.append(facts.PhiBucket(name, covered))
    return out


def detectors(cx: CloudContext) -> list[facts.Detector]:
    enabled = [d for d in audit_services.guardduty_detectors(cx.api) if d.get("Status") == "ENABLED"]
    if not enabled:
        return [facts.Detector("account", False, ())]
    features = {f.get("Name") for f in enabled[0].get("Features", []) if f.get("Status") == "ENABLED"}
    return [facts.Detector(enabled[0]["id"], True, tuple(sorted(str(f) for f in features)))]


def recorders(cx: CloudContext) -> list[facts.Recorder]:
    found = audit_services.config_recorders(cx.api)
    if not found:
        return [facts.Recorder("account", False, False, False)]
    r = found[0]
    return [
        facts.Recorder(r["name"], True, bool((r.get("recordingGroup") or {}).get("allSupported")), bool(r["recording"]))
    ]


def protected(cx: CloudContext) -> list[facts.Protected]:
    """The stack's databases, file systems and volumes, and whether a selection of the stack's plans covers each
    (by ARN, wildcard or tag condition, and not excluded)."""
    resources = protected_resources(cx)
    if not resources:
        return []
    plans = backup.plans(cx.api, cx.stack)
    chosen = [s for p in plans for s in backup.selections(cx.api, p["BackupPlanId"])]
    return [
        facts.Protected(name, len(plans), any(selects(s, arn, tags) for s in chosen)) for name, arn, tags in resources
    ]


def security_groups(cx: CloudContext) -> list[facts.SecurityGroup]:
    """The stack's groups: tagged, or used by its resources (policies.cloud.scope)."""
    mine = stack_security_group_ids(cx)
    out = []
    for g in ec2.security_groups(cx.api):
        if g["GroupId"] not in mine:
            continue
        ports = [
            world_port(p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"))
            for p in g.get("IpPermissions", [])
            if any(r.get("CidrIp") == "0.0.0.0/0" for r in p.get("IpRanges", []))
            or any(r.get("CidrIpv6") == "::/0" for r in p.get("Ipv6Ranges", []))
        ]
        out.append(facts.SecurityGroup(g["GroupId"], tuple(ports)))
    return out


def _login_actions(cx: CloudContext) -> list[tuple[str, dict[str, Any]]]:
    return [
        (lst["ListenerArn"], a["AuthenticateCognitoConfig"])
        for lb in edge.load_balancers(cx.api, cx.stack)
        for lst in lb["listeners"]
        for a in lst.get("DefaultActions") or []
        if a.get("AuthenticateCognitoConfig")
    ]


def login_listeners(cx: CloudContext) -> list[facts.LoginListener]:
    return [
        facts.LoginListener(
            arn,
            dict(auth.get("AuthenticationRequestExtraParams") or {}),
            (auth.get("SessionTimeout") or 0) / 60 or cognito.DEFAULT_SESSION_MINUTES,
        )
        for arn, auth in _login_actions(cx)
    ]


def _rules(cx: CloudContext) -> list[dict[str, Any]]:
    return [
        r
        for lb in edge.load_balancers(cx.api, cx.stack)
        for lst in lb["listeners"]
        for r in edge.listener_rules(cx.api, lst["ListenerArn"])
    ]


def _verifies_pool_jwt(rule: dict[str, Any]) -> bool:
    for a in rule.get("Actions") or []:
        jwt = a.get("JwtValidationConfig") or {}
        if a.get("Type") == "jwt-validation" and str(jwt.get("Issuer", "")).startswith("https://cognito-idp."):
            return bool(jwt.get("JwksEndpoint"))
    return False


def listener_rules(cx: CloudContext) -> list[facts.ListenerRule]:
    out = []
    for r in _rules(cx):
        actions = sorted(r.get("Actions") or [], key=lambda a: a.get("Order") or 0)
        out.append(facts.ListenerRule(r["RuleArn"], cognito.forwards_unverified([str(a.get("Type")) for a in actions])))
    return out


def app_clients(cx: CloudContext) -> list[facts.AppClient]:
    """The stack pools' clients. No jwt-validation rule at an emulator's endpoint is no evidence either way: moto's
    ELBv2 refuses the action, so none can exist there (jwt_verified None)."""
    pools = identity.user_pools(cx.api, cx.stack)
    if not pools:
        return []
    sessions = [
        (auth.get("SessionTimeout") or 0) / 60 or cognito.DEFAULT_SESSION_MINUTES for _, auth in _login_actions(cx)
    ]
    jwt: bool | None = any(_verifies_pool_jwt(r) for r in _rules(cx))
    if not jwt and getattr(cx.api, "endpoint_url", None):
        jwt = None
    names = {"access": "AccessToken", "id": "IdToken", "refresh": "RefreshToken"}
    out = []
    for pool in pools:
        tracking = identity_clients.session_tracking(cx.api, pool["Id"])
        for r in identity_clients.app_clients(cx.api, pool["Id"]):
            units = r.get("TokenValidityUnits") or {}
            user = "client_credentials" not in (r.get("AllowedOAuthFlows") or ())  # machine clients have no SSO session
            reuse = identity_clients.sso_reuse_minutes(cx.api, pool["Id"], r["ClientId"]) if user else None
            out.append(
                facts.AppClient(
                    name=f"{pool['Id']}/{r.get('ClientName', r['ClientId'])}",
                    flows=tuple(r.get("AllowedOAuthFlows") or ()),
                    scopes=tuple(r.get("AllowedOAuthScopes") or ()),
                    secret=bool(r.get("_has_secret")),  # the collector drops ClientSecret and leaves this marker
                    minutes={k: cognito.lifetime(r.get(f"{n}Validity"), units.get(n), k) for k, n in names.items()},
                    rotation=(r.get("RefreshTokenRotation") or {}).get("Feature") == "ENABLED",
                    session_minutes=min(sessions) if sessions else None,
                    jwt_verified=jwt,
                    sso_reuse_minutes=reuse if tracking else None,  # dormant while the pool does not track sessions
                    sso_known=tracking is not None and (reuse is not None or not user),
                )
            )
    return out


def emergency_access(cx: CloudContext) -> list[facts.EmergencyAccess]:
    sealed = tuple(
        (s["Name"], customer_key(s.get("KmsKeyId")))
        for s in audit_services.secrets(cx.api, cx.stack)
        if tag_dict(s.get("Tags")).get("pacsguard:purpose") == cognito.BREAK_GLASS_PURPOSE
    )
    pools = identity.user_pools(cx.api, cx.stack)
    group = bool(pools) and all(cognito.EMERGENCY_GROUP in identity_clients.groups(cx.api, p["Id"]) for p in pools)
    alarms = identity_clients.alarms(cx.api)
    alarmed = tuple(m for m in cognito.EMERGENCY_METRICS if m in alarms and alarms[m].get("AlarmActions"))
    return [facts.EmergencyAccess("stack", sealed, group, alarmed)]


def passkey_pools(cx: CloudContext) -> list[facts.Passkeys]:
    out = []
    for pool in identity.user_pools(cx.api, cx.stack):
        wa = identity_clients.webauthn(cx.api, pool["Id"])
        webauthn = (
            {
                "relying_party": wa.get("RelyingPartyId"),
                "user_verification": wa.get("UserVerification"),
                "factor": wa.get("FactorConfiguration"),
                "mfa_required": pool.get("MfaConfiguration") == "ON",
            }
            if wa
            else None
        )
        factors = ((pool.get("Policies") or {}).get("SignInPolicy") or {}).get("AllowedFirstAuthFactors") or [
            "PASSWORD"
        ]
        mode = tag_dict(pool.get("UserPoolTags")).get("pacsguard:passkeys")
        out.append(facts.Passkeys(pool["Id"], mode, pool.get("UserPoolTier") or "", tuple(factors), webauthn))
    return out


def listeners(cx: CloudContext) -> list[facts.Listener]:
    out = []
    for lb in edge.load_balancers(cx.api, cx.stack):
        for lst in lb["listeners"]:
            actions = lst.get("DefaultActions", [])
            redirects = bool(actions) and all(
                a.get("Type") == "redirect" and (a.get("RedirectConfig") or {}).get("Protocol") == "HTTPS"
                for a in actions
            )
            name = f"{lb['LoadBalancerName']}:{lst.get('Port')}"
            out.append(facts.Listener(name, lst.get("Protocol"), lst.get("SslPolicy"), redirects))
    return out


def principals(cx: CloudContext) -> list[facts.Principal]:
    """Every IAM user, group and role of the account (IAM-NO-ADMIN is account-level by design: the stack's key
    policies trust the account, so any administrator of the account can read the images), AWS's service-linked
    roles aside."""
    details = iam.authorization_details(cx.api)
    local = {}
    for p in details["Policies"]:
        default = next((v for v in p.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
        if default:
            local[p["Arn"]] = iam.document(default["Document"])
    out = []
    lists = (("UserDetailList", "UserName", "UserPolicyList"), ("GroupDetailList", "GroupName", "GroupPolicyList"),
             ("RoleDetailList", "RoleName", "RolePolicyList"))  # fmt: skip
    for list_key, name_key, inline_key in lists:
        for p in details[list_key]:
            if p.get("Path", "").startswith(iam.SERVICE_LINKED_PATH):
                continue
            docs = [
                (f"inline policy {i['PolicyName']}", iam.document(i["PolicyDocument"])) for i in p.get(inline_key, [])
            ]
            managed = []
            for a in p.get("AttachedManagedPolicies", []):
                if a["PolicyArn"] in local:
                    docs.append((f"customer-managed policy {a['PolicyName']}", local[a["PolicyArn"]]))
                else:
                    managed.append(a["PolicyName"])
                    docs.append(
                        (f"AWS-managed policy {a['PolicyName']}", iam.managed_policy_document(cx.api, a["PolicyArn"]))
                    )
            kind = list_key.removesuffix("DetailList").lower()
            out.append(facts.Principal(f"{kind}/{p[name_key]}", tuple(docs), tuple(managed)))
    return out


def hosts(cx: CloudContext) -> list[facts.Host]:
    out = []
    for i in ec2.instances(cx.api, cx.stack):
        md = i.get("MetadataOptions", {})
        address = i.get("PublicIpAddress")
        out.append(
            facts.Host(i["InstanceId"], bool(address), address, md.get("HttpTokens"), md.get("HttpPutResponseHopLimit"))
        )
    for lt in ec2.launch_templates(cx.api, cx.stack):
        md = lt["data"].get("MetadataOptions", {})
        public = any(n.get("AssociatePublicIpAddress") for n in lt["data"].get("NetworkInterfaces", []))
        out.append(
            facts.Host(lt["LaunchTemplateName"], public, None, md.get("HttpTokens"), md.get("HttpPutResponseHopLimit"))
        )
    return out


def user_pools(cx: CloudContext) -> list[facts.UserPool]:
    out = []
    for pool in identity.user_pools(cx.api, cx.stack):
        mfa = cx.api.call("cognito-idp", "GetUserPoolMfaConfig", UserPoolId=pool["Id"])
        out.append(
            facts.UserPool(
                pool["Id"],
                pool.get("MfaConfiguration") or mfa.get("MfaConfiguration"),
                bool((mfa.get("SoftwareTokenMfaConfiguration") or {}).get("Enabled")),
                ((pool.get("Policies") or {}).get("PasswordPolicy") or {}).get("MinimumLength"),
                bool((pool.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")),
            )
        )
    return out


def backup_plans(cx: CloudContext) -> list[facts.BackupPlan]:
    out = []
    for p in backup.plans(cx.api, cx.stack):
        rules = (p.get("BackupPlan") or {}).get("Rules", [])
        copies = [c["DestinationBackupVaultArn"] for r in rules for c in r.get("CopyActions", []) or []]
        regions = sorted({a.split(":")[3] for a in copies if a.split(":")[3] != cx.region})
        name = (p.get("BackupPlan") or {}).get("BackupPlanName") or p.get("BackupPlanId", "plan")
        out.append(
            facts.BackupPlan(name, cx.environment, tuple(regions), any(r.get("EnableContinuousBackup") for r in rules))
        )
    return out


def vpcs(cx: CloudContext) -> list[facts.Vpc]:
    """The stack's VPCs: tagged, or used by its resources though nobody tagged them (policies.cloud.scope)."""
    logs = ec2.flow_logs(cx.api)
    return [
        facts.Vpc(vpc_id, tuple(str(f.get("TrafficType")) for f in logs if f.get("ResourceId") == vpc_id))
        for vpc_id in sorted(stack_vpc_ids(cx))
    ]


def default_groups(cx: CloudContext) -> list[facts.DefaultGroup]:
    """The default group of each of the stack's VPCs (AWS makes one with every VPC)."""
    vpc_ids = stack_vpc_ids(cx)
    return [
        facts.DefaultGroup(g["GroupId"], len(g.get("IpPermissions", []) + g.get("IpPermissionsEgress", [])))
        for g in ec2.security_groups(cx.api)
        if g.get("GroupName") == "default" and g.get("VpcId") in vpc_ids
    ]
