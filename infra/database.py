"""The Orthanc index: RDS PostgreSQL in the isolated tier, TLS forced, encrypted, logs without PHI."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.log_group import encrypted_log_group
from stacks.settings import DatabaseSettings

DB_NAME = "orthanc"
DB_USER = "orthanc_admin"
LOG_EXPORTS = ("postgresql", "upgrade")

# Statement and error logging would copy patient names from queries into CloudWatch: keep them out.
PARAMETERS = {
    "rds.force_ssl": "1",
    "ssl_min_protocol_version": "TLSv1.2",
    "log_statement": "ddl",
    "log_min_duration_statement": "-1",
    "log_min_error_statement": "panic",
    "log_parameter_max_length": "0",
    "log_parameter_max_length_on_error": "0",
    "log_connections": "1",
    "log_disconnections": "1",
    "password_encryption": "scram-sha-256",
}


@dataclass(frozen=True)
class DatabaseArgs:
    context: StackContext
    vpc_id: pulumi.Input[str]
    isolated_subnet_ids: list[pulumi.Input[str]]
    hosts_security_group_id: pulumi.Input[str]
    database_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    database: DatabaseSettings
    deletion_protection: bool


class Database(pulumi.ComponentResource):
    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:data:Database", name, None, opts)
        ctx, db = args.context, args.database
        child = pulumi.ResourceOptions(parent=self)
        identifier = f"{ctx.prefix}-index"
        major = db.engine_version.split(".")[0]

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="Orthanc index database: PostgreSQL from the PACS hosts only",
            tags=ctx.tags("phi"),
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-hosts",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=5432,
            to_port=5432,
            referenced_security_group_id=args.hosts_security_group_id,
            description="PostgreSQL (TLS forced) from the PACS hosts",
            tags=ctx.tags("none"),
            opts=child,
        )
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets", subnet_ids=args.isolated_subnet_ids, tags=ctx.tags("none"), opts=child
        )
        params = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{major}",
            description="PACSGuard: TLS forced, no patient data in logs",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name=k, value=v, apply_method="pending-reboot")
                for k, v in PARAMETERS.items()
            ],
            tags=ctx.tags("none"),
            opts=child,
        )
        # RDS would create these groups unencrypted on first export: create them first, with our key.
        log_groups = [
            encrypted_log_group(
                f"{name}-log-{kind}",
                ctx,
                f"/aws/rds/instance/{identifier}/{kind}",
                args.logs_key_arn,
                parent=self,
            )
            for kind in LOG_EXPORTS
        ]
        prod = ctx.is_prod
        self.instance = aws.rds.Instance(
            f"{name}-index",
            identifier=identifier,
            engine="postgres",
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            allocated_storage=db.allocated_storage_gb,
            max_allocated_storage=db.allocated_storage_gb * 4,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.database_key_arn,
            db_name=DB_NAME,
            username=DB_USER,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.secrets_key_arn,
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[self.security_group.id],
            publicly_accessible=False,
            parameter_group_name=params.name,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            multi_az=db.multi_az,
            backup_retention_period=db.backup_retention_days,
            backup_window="02:00-03:00",
            maintenance_window="sun:03:30-sun:04:30",
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=not prod,
            final_snapshot_identifier=f"{identifier}-final" if prod else None,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            auto_minor_version_upgrade=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.database_key_arn,
            tags=ctx.tags("phi"),
            opts=ctx.opts(self, phi=True, depends_on=log_groups),
        )
        self.register_outputs({"endpoint": self.instance.endpoint})

    @property
    def master_secret_arn(self) -> pulumi.Output[str]:
        return self.instance.master_user_secrets.apply(lambda s: s[0].secret_arn if s else "")
