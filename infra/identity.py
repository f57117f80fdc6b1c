"""Who may sign in: a Cognito user pool with TOTP MFA required, no self sign-up, and one group per PACS role."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext

PACS_GROUPS = ("admin", "radiologist", "technologist", "auditor")
ROLE_ATTRIBUTE = "pacs_role"  # read by the host plugin as custom:pacs_role


@dataclass(frozen=True)
class IdentityArgs:
    context: StackContext
    callback_domain: pulumi.Input[str]


class Identity(pulumi.ComponentResource):
    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:identity:Identity", name, None, opts)
        ctx, s = args.context, args.context.settings
        child = pulumi.ResourceOptions(parent=self)
        self.pool = aws.cognito.UserPool(
            f"{name}-users",
            name=f"{ctx.prefix}-users",
            mfa_configuration="ON" if s.identity.mfa else "OPTIONAL",
            software_token_mfa_configuration=aws.cognito.UserPoolSoftwareTokenMfaConfigurationArgs(enabled=True),
            admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(allow_admin_create_user_only=True),
            password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                minimum_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_numbers=True,
                require_symbols=True,
                temporary_password_validity_days=3,
                password_history_size=12,
            ),
            username_attributes=["email"],
            auto_verified_attributes=["email"],
            account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                recovery_mechanisms=[
                    aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(name="verified_email", priority=1)
                ]
            ),
            schemas=[
                # Set by administrators only (the app client cannot write it): the PACS role of the user.
                aws.cognito.UserPoolSchemaArgs(
                    name=ROLE_ATTRIBUTE,
                    attribute_data_type="String",
                    mutable=True,
                    developer_only_attribute=False,
                    string_attribute_constraints=aws.cognito.UserPoolSchemaStringAttributeConstraintsArgs(
                        min_length="1", max_length="32"
                    ),
                )
            ],
            user_pool_tier="PLUS",
            user_pool_add_ons=aws.cognito.UserPoolUserPoolAddOnsArgs(advanced_security_mode="ENFORCED"),
            deletion_protection="ACTIVE" if s.is_prod else "INACTIVE",
            tags=ctx.tags("phi"),
            opts=ctx.opts(self, phi=True),
        )
        for group in PACS_GROUPS:
            aws.cognito.UserGroup(
                f"{name}-group-{group}",
                name=group,
                user_pool_id=self.pool.id,
                description=f"PACS role {group}",
                opts=child,
            )
        self.domain = aws.cognito.UserPoolDomain(
            f"{name}-domain",
            domain=s.identity.domain_prefix or f"{ctx.prefix}-login",
            user_pool_id=self.pool.id,
            opts=child,
        )
        self.client = aws.cognito.UserPoolClient(
            f"{name}-alb-client",
            name=f"{ctx.prefix}-alb",
            user_pool_id=self.pool.id,
            generate_secret=True,
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_flows=["code"],
            # openid alone: userInfo then returns every readable attribute, custom:pacs_role included.
            allowed_oauth_scopes=["openid"],
            supported_identity_providers=["COGNITO"],
            callback_urls=[pulumi.Output.concat("https://", args.callback_domain, "/oauth2/idpresponse")],
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            read_attributes=["email", f"custom:{ROLE_ATTRIBUTE}"],
            write_attributes=["email"],
            access_token_validity=60,
            id_token_validity=60,
            refresh_token_validity=12,
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(  # units, not secrets
                access_token="minutes",  # noqa: S106
                id_token="minutes",  # noqa: S106
                refresh_token="hours",  # noqa: S106
            ),
            opts=child,
        )
        self.register_outputs({"user_pool": self.pool.id})
