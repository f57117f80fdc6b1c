"""Compose the PACS stack from validated settings. The only entry point the Pulumi program calls."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.alarms import Alarms, AlarmsArgs
from infra.audit_trail import AuditTrail, AuditTrailArgs
from infra.backups import Backups, BackupsArgs
from infra.context import StackContext
from infra.database import Database, DatabaseArgs
from infra.detection import Detection, DetectionArgs
from infra.dicom_ingress import DicomIngress, DicomIngressArgs
from infra.host_ami import host_ami
from infra.host_egress import allow_host_egress
from infra.host_settings import host_settings
from infra.hosts import Hosts, HostsArgs, HostsSecurityGroup
from infra.identity import Identity, IdentityArgs
from infra.keys import Keys, KeysArgs
from infra.network import Network, NetworkArgs
from infra.storage import Storage, StorageArgs
from infra.waf import Waf, WafArgs
from infra.web_ingress import WebIngress, WebIngressArgs
from stacks.settings import Settings


def build(settings: Settings) -> dict[str, pulumi.Output]:
    stack = pulumi.get_stack()
    identity = aws.get_caller_identity()
    partition = aws.get_partition().partition
    zones = aws.get_availability_zones(state="available").names[: settings.availability_zones]
    if len(zones) < settings.availability_zones:
        raise pulumi.RunError(
            f"availability_zones: {settings.region} offers {len(zones)} zones, the stack asks for "
            f"{settings.availability_zones}"
        )
    ctx = StackContext(
        stack=stack,
        environment=settings.environment,
        account_id=identity.account_id,
        partition=partition,
        region=settings.region,
        log_retention_days=settings.effective_log_retention,
    )

    keys = Keys("keys", KeysArgs(context=ctx, autoscaling_service_role=settings.account.autoscaling_service_role))
    network = Network(
        "network",
        NetworkArgs(
            context=ctx,
            zones=zones,
            logs_key_arn=keys.arn("logs"),
            vpc_cidr=settings.vpc_cidr,
            nat_per_az=settings.effective_nat_per_az,
            connectivity=settings.connectivity,
            client_networks=settings.client_networks,
            ebs_endpoints=settings.storage.mode == "ebs",
        ),
    )
    host = host_settings(settings)
    hosts_sg = HostsSecurityGroup("hosts-sg", ctx, network.vpc.id, host)
    storage = Storage(
        "storage",
        StorageArgs(
            context=ctx,
            vpc_id=network.vpc.id,
            private_subnet_ids=network.subnet_ids("private"),
            hosts_security_group_id=hosts_sg.id,
            images_key_arn=keys.arn("images"),
            logs_key_arn=keys.arn("logs"),
            storage=settings.storage,
        ),
    )
    database = Database(
        "database",
        DatabaseArgs(
            context=ctx,
            vpc_id=network.vpc.id,
            isolated_subnet_ids=network.subnet_ids("isolated"),
            hosts_security_group_id=hosts_sg.id,
            database_key_arn=keys.arn("database"),
            secrets_key_arn=keys.arn("secrets"),
            logs_key_arn=keys.arn("logs"),
            database=settings.database,
            deletion_protection=settings.deletion_protection,
        ),
    )
    allow_host_egress(
        hosts_sg, ctx, network, database, storage, settings.hosts.package_egress, settings.dicom.modalities
    )

    identity = Identity(
        "identity",
        IdentityArgs(
            context=ctx,
            callback_domain=settings.web.domain_name,
            identity=settings.identity,
            session_timeout_minutes=settings.web.session_timeout_minutes,
            secrets_key_arn=keys.arn("secrets"),
        ),
    )
    web = WebIngress(
        "web",
        WebIngressArgs(
            context=ctx,
            vpc_id=network.vpc.id,
            public_subnet_ids=network.subnet_ids("public"),
            private_subnet_ids=network.subnet_ids("private"),
            hosts_security_group_id=hosts_sg.id,
            access_log_bucket=storage.access_logs.bucket.id,
            access_log_policy=storage.access_logs.policy,
            identity=identity,
            web=settings.web,
            https=settings.https,
            machine_scopes=[c.scope for c in settings.identity.machine_clients],
        ),
    )
    dicom = DicomIngress(
        "dicom",
        DicomIngressArgs(
            context=ctx,
            vpc_id=network.vpc.id,
            public_subnet_ids=network.subnet_ids("public"),
            private_subnet_ids=network.subnet_ids("private"),
            hosts_security_group_id=hosts_sg.id,
            dicom=settings.dicom,
        ),
    )
    ami = host_ami(settings.hosts.ami)
    fs, ap = storage.file_system, storage.access_point
    hosts = Hosts(
        "hosts",
        HostsArgs(
            context=ctx,
            host=host,
            vpc_id=network.vpc.id,
            private_subnet_ids=network.subnet_ids("private"),
            images_key_arn=keys.arn("images"),
            logs_key_arn=keys.arn("logs"),
            secrets_key_arn=keys.arn("secrets"),
            archive_bucket=storage.archive.bucket.id,
            archive_bucket_arn=storage.archive.bucket.arn,
            db_endpoint=database.instance.endpoint,
            db_secret_arn=database.master_secret_arn,
            file_system_id=fs.id if fs else None,
            file_system_arn=fs.arn if fs else None,
            access_point_id=ap.id if ap else None,
            access_point_arn=ap.arn if ap else None,
            ami_id=ami,
            zones=zones,
            alb_arn=web.alb.arn,
            machine=pulumi.Output.all(identity.issuer, identity.jwks_url, *(c.id for c in identity.machine_clients)),
            break_glass_secret_arn=identity.break_glass_secret.arn,
        ),
        hosts_sg,
    )
    web.attach(hosts.group.name)
    dicom.attach(hosts.group.name)
    if settings.waf.enabled:
        Waf("waf", WafArgs(context=ctx, load_balancer_arn=web.alb.arn, logs_key_arn=keys.arn("logs"), waf=settings.waf))
    trail = AuditTrail(
        "trail",
        AuditTrailArgs(
            context=ctx,
            logs_bucket=storage.logs.bucket.id,
            logs_key_arn=keys.arn("logs"),
            phi_bucket_arns=[storage.archive.bucket.arn],
            logs_bucket_policy=storage.logs.policy,
        ),
    )
    Alarms(
        "alarms",
        AlarmsArgs(
            context=ctx,
            trail_log_group=trail.log_group.name,
            audit_log_group=hosts.log_groups["orthanc-audit"].name,
            logs_key_arn=keys.arn("logs"),
            detection=settings.detection,
        ),
    )
    Detection(
        "detection",
        DetectionArgs(
            context=ctx,
            config_bucket=storage.config_delivery.bucket.id,
            config_bucket_arn=storage.config_delivery.bucket.arn,
            logs_key_arn=keys.arn("logs"),
            config_bucket_policy=storage.config_delivery.policy,
            detection=settings.detection,
            account=settings.account,
        ),
    )
    protected = [database.instance.arn]
    restore_tests: list[tuple[str, pulumi.Input[str]]] = [("RDS", database.instance.arn)]
    if fs is not None:
        protected.append(fs.arn)
        restore_tests.append(("EFS", fs.arn))
    if hosts.image_volume is not None:
        protected.append(hosts.image_volume.arn)
    Backups(
        "backups",
        BackupsArgs(
            context=ctx,
            backups_key_arn=keys.arn("backups"),
            protected_arns=protected,
            restore_tests=restore_tests,
            backup=settings.backup,
        ),
    )

    # Account-and-region wide: every new EBS volume is encrypted, with the stack's images key.
    aws.ebs.EncryptionByDefault("ebs-encryption-by-default", enabled=True)
    aws.ebs.DefaultKmsKey("ebs-default-key", key_arn=keys.arn("images"))

    outputs = {
        "vpc_id": network.vpc.id,
        "archive_bucket": storage.archive.bucket.id,
        "logs_bucket": storage.logs.bucket.id,
        "database_endpoint": database.instance.endpoint,
        "hosts_asg": hosts.group.name,
        "web_url": pulumi.Output.concat("https://", settings.web.domain_name, "/"),
        "alb_dns_name": web.alb.dns_name,
        "dicom_endpoint": dicom.nlb.dns_name,
        "user_pool": identity.pool.id,
    }
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs
