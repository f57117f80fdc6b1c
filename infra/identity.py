"""Who may sign in: a Cognito user pool with TOTP MFA required, passkeys, no self sign-up, one group per PACS role;
machine clients (client credentials, one PACS scope each) and the emergency (break-glass) group."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.login_domain import login_domain_prefix
from infra.login_session import LoginSession
from infra.passkey_factor import PasskeyFactor
from stacks.settings import IdentitySettings

PACS_GROUPS = ("admin", "radiologist", "technologist", "auditor")
ROLE_ATTRIBUTE = "pacs_role"  # read by the host plugin as custom:pacs_role
RESOURCE_SERVER = "pacs"  # scopes pacs/read and pacs/store; the host plugin maps each to one role
MACHINE_SCOPES = {"read": "query and retrieve DICOMweb", "store": "store instances (STOW-RS)"}
EMERGENCY_GROUP = "emergency"
# Cognito's minimum refresh-token lifetime: the ALB session timeout, not this, ends the session.
REFRESH_TOKEN_MINUTES = 60
AUTH_SESSION_MINUTES = 3  # the sign-in flow itself (password, TOTP or passkey challenge)
FIRST_FACTORS = {"off": ["PASSWORD"], "allowed": ["PASSWORD", "WEB_AUTHN"], "required": ["WEB_AUTHN"]}
# The pool is created with the password as its only first factor: AWS refuses WEB_AUTHN on an MFA-required pool until
# passkeys count as MFA, which only infra.passkey_factor can set (after the pool exists); it then adds WEB_AUTHN.
CREATED_FIRST_FACTORS = FIRST_FACTORS["off"]
# With passkeys required the ALB's client offers no password (SRP) flow: password+TOTP is not a first factor.
# No ALLOW_REFRESH_TOKEN_AUTH: Cognito refuses that flow on clients with refresh-token rotation; the ALB refreshes
# through the token endpoint's refresh_token grant, which rotation supports
# (https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-refresh-token.html).
# The pool's inputs that infra.passkey_factor sets after creation when passkeys are on (pulumi-aws must not).
PASSKEY_OWNED = ["signInPolicy", "webAuthnConfiguration", "mfaConfiguration", "softwareTokenMfaConfiguration"]
AUTH_FLOWS = {
    "off": ["ALLOW_USER_SRP_AUTH"],
    "allowed": ["ALLOW_USER_AUTH", "ALLOW_USER_SRP_AUTH"],
    "required": ["ALLOW_USER_AUTH"],
}


def mfa_mode(s: IdentitySettings) -> str:
    return "ON" if s.mfa else "OPTIONAL"


def login_host(prefix: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """Where managed login serves its pages: a passkey's relying party must be this host or a suffix of it."""
    return pulumi.Output.concat(prefix, ".auth.", region, ".amazoncognito.com")


@dataclass(frozen=True)
class IdentityArgs:
    context: StackContext
    callback_domain: pulumi.Input[str]
    identity: IdentitySettings
    session_timeout_minutes: int  # the web session: the browser client's tokens live no longer
    secrets_key_arn: pulumi.Input[str] | None = None  # seals the break-glass credential


class Identity(pulumi.ComponentResource):
    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:identity:Identity", name, None, opts)
        ctx, s = args.context, args.identity
        child = pulumi.ResourceOptions(parent=self)
        self.pool = aws.cognito.UserPool(
            f"{name}-users",
            name=f"{ctx.prefix}-users",
            mfa_configuration=mfa_mode(s),
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
            # Passkeys: the relying party is the host managed login serves its pages on (a browser refuses any
            # other), and the authenticator must verify the user (biometric or PIN), so a passkey is two factors
            # in one and cannot be phished to another site.
            web_authn_configuration=(
                aws.cognito.UserPoolWebAuthnConfigurationArgs(
                    relying_party_id=login_host(login_domain_prefix(ctx, s.domain_prefix), ctx.region),
                    user_verification="required",
                )
                if s.passkeys != "off"
                else None
            ),
            sign_in_policy=aws.cognito.UserPoolSignInPolicyArgs(allowed_first_auth_factors=CREATED_FIRST_FACTORS),
            user_pool_tier="PLUS",  # passkeys and choice-based sign-in need ESSENTIALS or PLUS
            user_pool_add_ons=aws.cognito.UserPoolUserPoolAddOnsArgs(advanced_security_mode="ENFORCED"),
            deletion_protection="ACTIVE" if ctx.is_prod else "INACTIVE",
            # The configured passkey mode, so plan and audit can judge "enforced as configured".
            tags=ctx.tags("phi", **{"pacsguard:passkeys": s.passkeys}),
            # With passkeys, infra.passkey_factor owns the WebAuthn settings, the first factors and the MFA settings
            # after creation: the pool's own updates must not send back the created ones (it re-applies after any
            # change of the pool), and pulumi-aws answers a change of MFA or TOTP with a SetUserPoolMfaConfig
            # without the passkey factor, which would make passkeys a single factor again.
            opts=pulumi.ResourceOptions.merge(
                ctx.opts(self, phi=True),
                pulumi.ResourceOptions(ignore_changes=PASSKEY_OWNED if s.passkeys != "off" else None),
            ),
        )
        if s.passkeys != "off":
            PasskeyFactor(
                f"{name}-passkey-factor",
                self.pool,
                ctx.region,
                login_host(login_domain_prefix(ctx, s.domain_prefix), ctx.region),
                FIRST_FACTORS[s.passkeys],
                mfa_mode(s),
                opts=child,
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
            domain=login_domain_prefix(ctx, s.domain_prefix),
            user_pool_id=self.pool.id,
            # Passkeys exist only in managed login (version 2); the classic hosted UI cannot offer them.
            managed_login_version=2 if s.passkeys != "off" else 1,
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
            explicit_auth_flows=AUTH_FLOWS[s.passkeys],
            # Automatic logoff: tokens live no longer than the web session; refresh tokens are single-use
            # (rotated, no grace period) and live Cognito's minimum.
            access_token_validity=args.session_timeout_minutes,
            id_token_validity=args.session_timeout_minutes,
            refresh_token_validity=REFRESH_TOKEN_MINUTES,
            auth_session_validity=AUTH_SESSION_MINUTES,
            refresh_token_rotation=aws.cognito.UserPoolClientRefreshTokenRotationArgs(
                feature="ENABLED", retry_grace_period_seconds=0
            ),
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(  # units, not secrets
                access_token="minutes",  # noqa: S106
                id_token="minutes",  # noqa: S106
                refresh_token="minutes",  # noqa: S106
            ),
            opts=child,
        )
        # Cognito's own (managed-login) session must not sign the user back in once the ALB session ended.
        LoginSession(f"{name}-login-session", self.pool, self.client, ctx.region, opts=child)
        if s.passkeys != "off":
            # Managed login shows its pages to a client only once the client has a branding style.
            aws.cognito.ManagedLoginBranding(
                f"{name}-login-branding",
                user_pool_id=self.pool.id,
                client_id=self.client.id,
                use_cognito_provided_values=True,
                opts=child,
            )
        self.issuer = pulumi.Output.concat("https://cognito-idp.", ctx.region, ".amazonaws.com/", self.pool.id)
        self.jwks_url = pulumi.Output.concat(self.issuer, "/.well-known/jwks.json")
        self.machine_clients = self._machine_clients(name, ctx, s)
        aws.cognito.UserGroup(
            f"{name}-group-{EMERGENCY_GROUP}",
            name=EMERGENCY_GROUP,
            user_pool_id=self.pool.id,
            description=(
                "Break-glass read access, custom:pacs_role emergency, assigned by a second administrator; works only "
                f"while the sealed secret's window tags are open (at most {s.emergency_access_minutes} min)"
            ),
            opts=child,
        )
        # The sealed break-glass credential: its value (the emergency user's sign-in) is put there by a second
        # administrator; every read of it is a CloudTrail event the alarms turn into a page (infra/alarms.py).
        self.break_glass_secret = aws.secretsmanager.Secret(
            f"{name}-break-glass",
            name=f"{ctx.prefix}-break-glass",
            description="Sealed emergency-access credential: reading it raises an alarm; rotate it after every use",
            kms_key_id=args.secrets_key_arn,
            recovery_window_in_days=30 if ctx.is_prod else 7,
            tags=ctx.tags("none", **{"pacsguard:purpose": "break-glass"}),
            # The window tags (pacsguard:window-*) are set by a second administrator, not by this program: a
            # `pulumi up --refresh` during an emergency must not strip them and close the window on every host.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(ignore_changes=["tags", "tagsAll"])),
        )
        self.register_outputs({"user_pool": self.pool.id})

    def _machine_clients(self, name: str, ctx: StackContext, s: IdentitySettings) -> list[aws.cognito.UserPoolClient]:
        """Client-credentials app clients: a secret, one PACS scope, short access tokens and nothing else."""
        child = pulumi.ResourceOptions(parent=self)
        if not s.machine_clients:
            return []
        server = aws.cognito.ResourceServer(
            f"{name}-pacs-api",
            identifier=RESOURCE_SERVER,
            name="PACS DICOMweb",
            user_pool_id=self.pool.id,
            scopes=[
                aws.cognito.ResourceServerScopeArgs(scope_name=k, scope_description=v)
                for k, v in MACHINE_SCOPES.items()
            ],
            opts=child,
        )
        return [
            aws.cognito.UserPoolClient(
                f"{name}-machine-{c.name}",
                name=f"{ctx.prefix}-machine-{c.name}",
                user_pool_id=self.pool.id,
                generate_secret=True,
                allowed_oauth_flows_user_pool_client=True,
                allowed_oauth_flows=["client_credentials"],
                allowed_oauth_scopes=[f"{RESOURCE_SERVER}/{c.scope}"],
                supported_identity_providers=["COGNITO"],
                prevent_user_existence_errors="ENABLED",
                enable_token_revocation=True,
                # Client credentials only: without this list Cognito also enables SRP and custom sign-in for users.
                explicit_auth_flows=["ALLOW_REFRESH_TOKEN_AUTH"],
                access_token_validity=s.machine_token_minutes,
                token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(access_token="minutes"),  # noqa: S106
                opts=pulumi.ResourceOptions(parent=self, depends_on=[server]),
            )
            for c in s.machine_clients
        ]
