"""PACS hosts: a hardened launch template on the Debian 12 AMI, an auto scaling group in private subnets."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.database import DB_NAME, DB_USER
from infra.host_bundle import host_bundle
from infra.host_filled_secrets import host_filled_secrets, host_statements
from infra.host_settings import HostSettings
from infra.image_volume import attach_statements, image_volume
from infra.ingress_rules import allow_networks
from infra.log_group import encrypted_log_group
from infra.policy_doc import Statement, assume_role_policy, document, statement
from infra.storage import ORTHANC_UID
from orthanc_config.profile import Database, HostProfile
from orthanc_config.userdata import render_user_data

DEBIAN_OWNER = "136693071363"  # Debian's official AWS account for its cloud images
HOST_LOG_GROUPS = ("host", "orthanc-audit", "nginx")
BUNDLE_KEY = "pacsguard/bootstrap/host-bundle.zip"
RDS_CA_BUNDLE = "/etc/pacsguard/rds-global-bundle.pem"
DB_APP_USER = "orthanc_app"  # Orthanc's least-privilege role; the master user only creates it


@dataclass(frozen=True)
class HostsArgs:
    context: StackContext
    host: HostSettings
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    images_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    archive_bucket: pulumi.Input[str]
    archive_bucket_arn: pulumi.Input[str]
    db_endpoint: pulumi.Input[str]
    db_secret_arn: pulumi.Input[str]
    file_system_id: pulumi.Input[str] | None
    file_system_arn: pulumi.Input[str] | None
    access_point_id: pulumi.Input[str] | None
    access_point_arn: pulumi.Input[str] | None
    ami_id: str
    zones: list[str]
    alb_arn: pulumi.Input[str]
    machine: pulumi.Input[list[str]] | None = None  # [issuer, JWKS URL, *machine client ids]
    break_glass_secret_arn: pulumi.Input[str] | None = None  # hosts follow its window tags (never its value)


def alb_key_url(partition: str, region: str) -> str:
    """Where the ALB publishes the key of each kid it signs `x-amzn-oidc-data` with ("User claims encoding and
    signature verification", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html):
    a regional endpoint, or in AWS GovCloud (US) an S3 URL of AWS's own bucket."""
    if partition == "aws-us-gov":
        return f"https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}/{{kid}}"
    return f"https://public-keys.auth.elb.{region}.amazonaws.com/{{kid}}"


def s3_prefix_list_cidrs(region: str) -> pulumi.Output[list[str]]:
    """The networks of the region's S3 gateway endpoint (AWS-managed prefix list), read at deploy time: the host
    firewall admits them when the package window is closed (the security group names the list itself)."""
    found = aws.ec2.get_managed_prefix_list_output(name=f"com.amazonaws.{region}.s3")
    return found.entries.apply(lambda entries: sorted(e.cidr for e in entries or []))


class HostsSecurityGroup(pulumi.ComponentResource):
    """Created before the hosts so the database and file system can admit exactly this group."""

    def __init__(
        self,
        name: str,
        context: StackContext,
        vpc_id: pulumi.Input[str],
        host: HostSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pacsguard:compute:HostsSecurityGroup", name, None, opts)
        ctx = context
        child = pulumi.ResourceOptions(parent=self)
        self.group = aws.ec2.SecurityGroup(
            name,
            vpc_id=vpc_id,
            description="PACS hosts: DICOM TLS from modalities; egress by port",
            tags=ctx.tags("phi"),
            opts=child,
        )
        allow_networks(f"{name}-dicom", ctx, self.group.id, host.dicom_port, host.modality_networks, "DICOM TLS", self)
        self.id = self.group.id
        self.register_outputs({"id": self.group.id})

    def allow_egress(
        self,
        name: str,
        ctx: StackContext,
        port: int,
        *,
        to_group: pulumi.Input[str] | None = None,
        to_cidr: str | None = None,
        to_prefix_list: pulumi.Input[str] | None = None,
        why: str,
        purpose: str | None = None,
        aliases: list[str] | None = None,
    ) -> None:
        aws.vpc.SecurityGroupEgressRule(
            name,
            security_group_id=self.group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=to_group,
            prefix_list_id=to_prefix_list,
            **({"cidr_ipv6": to_cidr} if to_cidr and ":" in to_cidr else {"cidr_ipv4": to_cidr}),
            description=why,
            tags=ctx.tags("none", **({"pacsguard:purpose": purpose} if purpose else {})),
            opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=a) for a in aliases or []]),
        )


class Hosts(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: HostsArgs,
        security_group: HostsSecurityGroup,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pacsguard:compute:Hosts", name, None, opts)
        ctx, s = args.context, args.host
        child = pulumi.ResourceOptions(parent=self)

        self.log_groups = {
            kind: encrypted_log_group(
                f"{name}-log-{kind}", ctx, f"/pacsguard/{ctx.stack}/{kind}", args.logs_key_arn, parent=self
            )
            for kind in HOST_LOG_GROUPS
        }
        bundle = aws.s3.BucketObjectv2(
            f"{name}-bundle",
            bucket=args.archive_bucket,
            key=BUNDLE_KEY,
            source=host_bundle(),
            server_side_encryption="aws:kms",
            # The archive bucket has object lock: S3 refuses a PutObject there without an integrity checksum.
            checksum_algorithm="SHA256",
            kms_key_id=args.images_key_arn,
            bucket_key_enabled=True,
            tags=ctx.tags("none"),
            opts=child,
        )
        bundle_arn = pulumi.Output.concat(args.archive_bucket_arn, "/", BUNDLE_KEY)

        self.host_filled = host_filled_secrets(name, ctx, args.secrets_key_arn, parent=self)
        self.image_volume = (
            image_volume(f"{name}-images", ctx, args.zones[0], args.images_key_arn, s.ebs_size_gb, parent=self)
            if s.image_store == "ebs"
            else None
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            description="PACS host: its own logs, secrets, keys and file system, nothing else",
            max_session_duration=3600,
            tags=ctx.tags("none"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-least-privilege",
            role=role.id,
            policy=document(*self._statements(ctx, args, bundle_arn)),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=ctx.tags("none"), opts=child)

        user_data = pulumi.Output.all(
            args.db_endpoint,
            args.db_secret_arn,
            args.archive_bucket,
            args.file_system_id or "",
            args.access_point_id or "",
            args.alb_arn,
            self.host_filled["stack-ca"].arn,
            self.host_filled["db-app"].arn,
            self.image_volume.id if self.image_volume else "",
            args.machine or [],
            args.break_glass_secret_arn or "",
            s3_prefix_list_cidrs(ctx.region),
            *(g.name for g in self.log_groups.values()),
        ).apply(lambda v: self._user_data(ctx, s, *v))

        block_devices = [
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=s.root_volume_gb,
                    volume_type="gp3",
                    encrypted="true",
                    kms_key_id=args.images_key_arn,
                    delete_on_termination="true",
                ),
            )
        ]
        tag_specs = [
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=t, tags=ctx.tags("phi"))
            for t in ("instance", "volume", "network-interface")
        ]
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            name_prefix=f"{ctx.prefix}-host-",
            image_id=args.ami_id,
            instance_type=s.instance_type,
            ebs_optimized="true",
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                    security_groups=[security_group.id],
                )
            ],
            block_device_mappings=block_devices,
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            user_data=user_data.apply(lambda ud: base64.b64encode(ud.encode()).decode()),
            update_default_version=True,
            tag_specifications=tag_specs,
            tags=ctx.tags("none"),
            # A host that boots before its bundle is uploaded would fail its bootstrap.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bundle]),
        )
        self.group = aws.autoscaling.Group(
            f"{name}-asg",
            name_prefix=f"{ctx.prefix}-hosts-",
            min_size=s.count,
            max_size=s.count,
            desired_capacity=s.count,
            # An EBS image volume attaches within its own zone only.
            vpc_zone_identifiers=args.private_subnet_ids[:1] if self.image_volume else args.private_subnet_ids,
            health_check_type="EC2",
            health_check_grace_period=600,
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=self.launch_template.id, version="$Latest"),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(min_healthy_percentage=50),
            ),
            tags=[
                aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=True)
                for k, v in ctx.tags("phi", Name=f"{ctx.prefix}-host").items()
            ],
            opts=child,
        )
        self.user_data = user_data
        self.role = role
        self.register_outputs({"asg": self.group.name})

    def _statements(self, ctx: StackContext, args: HostsArgs, bundle_arn: pulumi.Input[str]) -> list[Statement]:
        log_arns = [pulumi.Output.concat(g.arn, ":*") for g in self.log_groups.values()]
        sts = [
            statement("SsmAgentOnOwnInstance", ["ssm:UpdateInstanceInformation"], [ctx.arn("ec2", "instance/*")]),
            # Session Manager channels have no resource-level permissions: AWS allows only "*".
            statement(
                "SsmSessionChannels",
                [
                    "ssmmessages:CreateControlChannel",
                    "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel",
                    "ssmmessages:OpenDataChannel",
                    "ec2messages:AcknowledgeMessage",
                    "ec2messages:DeleteMessage",
                    "ec2messages:FailMessage",
                    "ec2messages:GetEndpoint",
                    "ec2messages:GetMessages",
                    "ec2messages:SendReply",
                ],
                "*",
            ),
            statement(
                "WriteOwnLogs",
                ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                log_arns,
            ),
            statement(
                "ReadDatabaseSecret",
                ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                [args.db_secret_arn],
            ),
            statement(
                "DecryptOwnSecrets",
                ["kms:Decrypt"],
                [args.secrets_key_arn],
                condition={"StringEquals": {"kms:ViaService": ctx.service_host("secretsmanager")}},
            ),
            statement("FetchBootstrapBundle", ["s3:GetObject"], [bundle_arn]),
            # AWS's own distribution bucket of the SSM agent (Debian packages none): see orthanc_config/ssm_agent.py
            statement(
                "FetchSsmAgentPackage",
                ["s3:GetObject"],
                [f"arn:aws:s3:::amazon-ssm-{ctx.region}/latest/debian_amd64/amazon-ssm-agent.deb"],
            ),
            statement(
                "DecryptBootstrapBundle",
                ["kms:Decrypt"],
                [args.images_key_arn],
                condition={"StringEquals": {"kms:ViaService": ctx.service_host("s3")}},
            ),
        ]
        sts += host_statements(ctx, self.host_filled, args.secrets_key_arn)
        if self.image_volume is not None:
            sts += attach_statements(ctx, self.image_volume.arn)
        if args.break_glass_secret_arn is not None:
            # The window is in the sealed secret's tags: DescribeSecret only, the value stays sealed.
            sts.append(
                statement("FollowBreakGlassWindow", ["secretsmanager:DescribeSecret"], [args.break_glass_secret_arn])
            )
        if args.file_system_arn is not None:
            sts.append(
                statement(
                    "MountImageStoreThroughAccessPoint",
                    ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                    [args.file_system_arn],
                    condition={"StringEquals": {"elasticfilesystem:AccessPointArn": args.access_point_arn}},
                )
            )
        return sts

    @staticmethod
    def _user_data(
        ctx: StackContext,
        s: HostSettings,
        db_endpoint: str,
        db_secret_arn: str,
        bucket: str,
        fs_id: str,
        ap_id: str,
        alb_arn: str,
        stack_ca_arn: str,
        db_app_arn: str,
        image_volume_id: str,
        machine: list[str],
        break_glass_secret: str,
        s3_cidrs: list[str],
        *log_groups: str,
    ) -> str:
        profile = HostProfile(
            name=f"{ctx.prefix}-host",
            mode="aws",
            dicom_port=s.dicom_port,
            https_cidrs=s.https_cidrs,
            lb_cidrs=s.lb_cidrs,
            modality_cidrs=tuple(str(c) for c in s.modality_networks),
            # NLB health checks come from its private addresses in the VPC (the SG admits only the NLB's group).
            health_check_cidrs=s.health_check_cidrs,
            modalities=s.modalities,
            package_egress="closed" if s.package_egress == "closed" else "open",
            # Closed: what every host user but the identity-key service may still reach on 443.
            https_egress_cidrs=(s.vpc_cidr, *s3_cidrs),
            database=Database(
                host=(db_endpoint or "").split(":")[0],
                name=DB_NAME,
                user=DB_USER,
                password_source=f"aws-secretsmanager:{db_secret_arn or 'arn:pending'}",
                ca_file=RDS_CA_BUNDLE,
                app_user=DB_APP_USER,
                app_password_secret=db_app_arn,
                ca_bundle_url=f"https://truststore.pki.rds.amazonaws.com/{ctx.region}/{ctx.region}-bundle.pem",
            ),
            identity="jwt",
            # The ALB signs with regional keys it shares with every ALB of the region: pin our own.
            jwt_signer=alb_arn,
            jwt_key_url=alb_key_url(ctx.partition, ctx.region),
            # Machine clients: the plugin verifies their Cognito access tokens again (RS256, the pool's JWKS).
            machine_issuer=machine[0] if len(machine) > 2 else "",
            machine_jwks=machine[1] if len(machine) > 2 else "",
            machine_clients=tuple(machine[2:]),
            session_timeout_minutes=s.session_timeout_minutes,
            emergency_access_minutes=s.emergency_access_minutes,
            break_glass_secret=break_glass_secret,
            efs={"file_system_id": fs_id, "access_point_id": ap_id, "uid": str(ORTHANC_UID), "gid": str(ORTHANC_UID)}
            if fs_id
            else {},
            log_groups=dict(zip(HOST_LOG_GROUPS, log_groups, strict=True)),
            region=ctx.region,
            stack_ca_secret=stack_ca_arn,
            ebs_volume_id=image_volume_id,
        )
        return render_user_data(profile, f"s3://{bucket}/{BUNDLE_KEY}", ctx.region)
