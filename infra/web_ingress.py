"""The HTTPS entry: an ALB that signs users in with Cognito (MFA) before forwarding over TLS to nginx."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.identity import RESOURCE_SERVER, Identity
from infra.ingress_rules import allow_networks
from infra.lb_targets import attach_hosts
from stacks.settings import HttpsSettings, WebSettings

TLS_POLICIES = {
    "tls13": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "fips": "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
}
COGNITO_SCOPE = "openid"
MACHINE_RULE_PRIORITY = 10
MACHINE_PATHS = ["/dicom-web/*"]  # machines speak DICOMweb only; the host plugin refuses them anything else
HEALTH_PATH = "/healthz"  # served by nginx itself: no PHI, no credentials


def reauthenticate(session_timeout_minutes: int) -> dict[str, str]:
    """Cognito's managed-login session cookie (1 hour) outlives the ALB session: without these an expired ALB session
    would be silently renewed by Cognito, skipping the password, TOTP and passkey prompts (automatic logoff).
    prompt=login asks for a fresh sign-in; max_age (OIDC) refuses to reuse any sign-in older than the logoff timeout
    even if prompt is ignored. AWS documents max_age on managed login's authorize and login endpoints, beside
    acr_values, in a capability it is still rolling out (developer guide, "Authentication levels with ACR and AMR
    claims": https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-step-up-authentication.html)."""
    return {"prompt": "login", "max_age": str(session_timeout_minutes * 60)}


@dataclass(frozen=True)
class WebIngressArgs:
    context: StackContext
    vpc_id: pulumi.Input[str]
    public_subnet_ids: list[pulumi.Input[str]]
    private_subnet_ids: list[pulumi.Input[str]]
    hosts_security_group_id: pulumi.Input[str]
    access_log_bucket: pulumi.Input[str]
    access_log_policy: pulumi.Resource  # the bucket policy that admits ALB log delivery
    identity: Identity
    web: WebSettings
    https: HttpsSettings  # the networks that may reach the entry
    machine_scopes: list[str]  # the PACS scopes the machine clients hold: one listener rule each


class WebIngress(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebIngressArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:edge:WebIngress", name, None, opts)
        ctx, web = args.context, args.web
        child = pulumi.ResourceOptions(parent=self)
        tags = ctx.tags("none")

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="PACS web entry: HTTPS from the HTTPS networks",
            tags=tags,
            opts=child,
        )
        for port, why in ((443, "HTTPS"), (80, "redirect to HTTPS")):
            allow_networks(f"{name}-in-{port}", ctx, self.security_group.id, port, args.https.cidrs, why, self)
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-to-hosts",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            referenced_security_group_id=args.hosts_security_group_id,
            description="TLS to nginx on the hosts",
            tags=tags,
            opts=child,
        )
        # authenticate-cognito: the ALB itself calls the user pool's token and userInfo endpoints over HTTPS.
        # Cognito publishes no address ranges of its own, so the destination is any address, on 443 only.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-to-idp",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="Cognito token and userInfo endpoints (ALB authentication)",
            tags=tags,
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-hosts-from-alb",
            security_group_id=args.hosts_security_group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            referenced_security_group_id=self.security_group.id,
            description="HTTPS from the web load balancer only",
            tags=tags,
            opts=child,
        )

        self.certificate_arn = web.certificate_arn or self._validated_certificate(name, ctx, web, tags)

        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=f"{ctx.prefix}-web"[:32],
            load_balancer_type="application",
            internal=web.internal,
            subnets=args.private_subnet_ids if web.internal else args.public_subnet_ids,
            security_groups=[self.security_group.id],
            drop_invalid_header_fields=True,
            desync_mitigation_mode="strictest",
            enable_deletion_protection=ctx.is_prod,
            idle_timeout=300,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=args.access_log_bucket, prefix="alb", enabled=True),
            tags=tags,
            # Enabling access logs makes ELB write a test object: the bucket policy must admit it first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.access_log_policy]),
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-hosts",
            port=443,
            protocol="HTTPS",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=60,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True, protocol="HTTPS", path=HEALTH_PATH, matcher="200", interval=15, healthy_threshold=2
            ),
            tags=tags,
            opts=child,
        )
        idn = args.identity
        self.https_listener = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=self.alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICIES[web.tls_policy],
            certificate_arn=self.certificate_arn,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="authenticate-cognito",
                    order=1,
                    authenticate_cognito=aws.lb.ListenerDefaultActionAuthenticateCognitoArgs(
                        user_pool_arn=idn.pool.arn,
                        user_pool_client_id=idn.client.id,
                        user_pool_domain=idn.domain.domain,
                        session_timeout=web.session_timeout_minutes * 60,
                        on_unauthenticated_request="authenticate",
                        # Only openid: with any other scope userInfo returns just those claims and
                        # custom:pacs_role never reaches the host (Cognito userInfo documentation).
                        scope=COGNITO_SCOPE,
                        authentication_request_extra_params=reauthenticate(web.session_timeout_minutes),
                    ),
                ),
                aws.lb.ListenerDefaultActionArgs(type="forward", order=2, target_group_arn=self.target_group.arn),
            ],
            tags=tags,
            opts=child,
        )
        if idn.machine_clients:
            for offset, scope in enumerate(sorted(set(args.machine_scopes))):
                self._machine_rule(name, idn, tags, scope, MACHINE_RULE_PRIORITY + offset)
        aws.lb.Listener(
            f"{name}-http-redirect",
            load_balancer_arn=self.alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            tags=tags,
            opts=child,
        )
        if web.route53_zone_id:
            self._alias_record(name, web)
        self._name = name
        self.register_outputs({"alb_dns": self.alb.dns_name})

    def _alias_record(self, name: str, web: WebSettings) -> None:
        """web.domain_name -> the ALB: Cognito redirects browsers to https://<domain>/oauth2/idpresponse."""
        aws.route53.Record(
            f"{name}-alias",
            zone_id=web.route53_zone_id,
            name=web.domain_name,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=self.alb.dns_name, zone_id=self.alb.zone_id, evaluate_target_health=True
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _validated_certificate(
        self, name: str, ctx: StackContext, web: WebSettings, tags: dict[str, str]
    ) -> pulumi.Output[str]:
        """Request a certificate, publish its DNS validation record, and wait until ACM issues it.

        The listener takes the validation's ARN, so it is created only once the certificate is ISSUED
        (CreateListener refuses a pending certificate with UnsupportedCertificate).
        """
        child = pulumi.ResourceOptions(parent=self)
        cert = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=web.domain_name,
            validation_method="DNS",
            key_algorithm="EC_prime256v1",
            options=aws.acm.CertificateOptionsArgs(certificate_transparency_logging_preference="ENABLED"),
            tags=tags,
            opts=child,
        )
        option = cert.domain_validation_options.apply(lambda opts: opts[0])
        record = aws.route53.Record(
            f"{name}-certificate-validation-record",
            zone_id=web.route53_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=cert.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child,
        )
        return validation.certificate_arn

    def _machine_rule(self, name: str, idn: Identity, tags: dict[str, str], scope: str, priority: int) -> None:
        """Bearer-token DICOMweb for machine clients of one scope: the ALB verifies the RS256 token first.

        JWT validation checks the signature against the pool's JWKS, the issuer and the expiry, and here the token
        use and the PACS scope; the host plugin checks all of it again, then maps the one scope to a role. One
        rule per scope, each claim check with a single value: AWS does not document whether several values of a
        space-separated claim must all be present or any one, and a token carries exactly one PACS scope.
        """
        aws.lb.ListenerRule(
            f"{name}-machine-{scope}",
            listener_arn=self.https_listener.arn,
            priority=priority,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=MACHINE_PATHS)
                ),
                aws.lb.ListenerRuleConditionArgs(
                    http_header=aws.lb.ListenerRuleConditionHttpHeaderArgs(
                        http_header_name="Authorization", values=["Bearer *"]
                    )
                ),
            ],
            actions=[
                aws.lb.ListenerRuleActionArgs(
                    type="jwt-validation",
                    order=1,
                    jwt_validation=aws.lb.ListenerRuleActionJwtValidationArgs(
                        issuer=idn.issuer,
                        jwks_endpoint=idn.jwks_url,
                        additional_claims=[
                            aws.lb.ListenerRuleActionJwtValidationAdditionalClaimArgs(
                                name="token_use", format="single-string", values=["access"]
                            ),
                            aws.lb.ListenerRuleActionJwtValidationAdditionalClaimArgs(
                                name="scope",
                                format="space-separated-values",
                                values=[f"{RESOURCE_SERVER}/{scope}"],
                            ),
                        ],
                    ),
                ),
                aws.lb.ListenerRuleActionArgs(type="forward", order=2, target_group_arn=self.target_group.arn),
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def attach(self, hosts_asg_name: pulumi.Input[str]) -> None:
        attach_hosts(self._name, self, hosts_asg_name, self.target_group.arn)
