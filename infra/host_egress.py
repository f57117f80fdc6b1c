"""Where the PACS hosts may send, port by port: named destinations, plus the one HTTPS rule to the internet.

The hosts verify signed identities with keys that no VPC endpoint serves: the ALB's signing key for each kid at
https://public-keys.auth.elb.<region>.amazonaws.com/<kid> (GovCloud: an S3 URL of AWS's own bucket), "User claims
encoding and signature verification" in
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html, and the user
pool's JWKS (a pool with a domain is incompatible with PrivateLink:
https://docs.aws.amazon.com/cognito/latest/developerguide/vpc-interface-endpoints.html). A security group matches
addresses, not names, and no AWS-managed prefix list covers either endpoint
(https://docs.aws.amazon.com/vpc/latest/userguide/working-with-aws-managed-prefix-lists.html): 443 to 0.0.0.0/0
is the narrowest rule AWS allows. It is always present and labelled `identity-keys`. With hosts.package_egress:
open the same rule also carries the package window (a second identical rule would be refused as a duplicate);
closed, the host firewall lets only the identity-key service's user past the VPC and the S3 prefix list on 443
(orthanc_config/render_nftables.py, from the host profile's https_egress_cidrs).
"""

from __future__ import annotations

from infra.context import StackContext
from infra.database import Database
from infra.hosts import HostsSecurityGroup
from infra.network import Network
from infra.storage import Storage
from stacks.settings import ModalitySettings

IDENTITY_KEYS_PURPOSE = "identity-keys"
PACKAGE_WINDOW_PURPOSE = "package-window"


def allow_host_egress(
    hosts_sg: HostsSecurityGroup,
    ctx: StackContext,
    network: Network,
    database: Database,
    storage: Storage,
    package_egress: str,  # hosts.package_egress: open or closed
    modalities: list[ModalitySettings],
) -> None:
    """AWS APIs through the endpoints, S3 through its prefix list, the index, the image store, C-MOVE destinations;
    the identity keys through the NAT, and the Debian mirrors only while hosts.package_egress is open."""
    hosts_sg.allow_egress(
        "hosts-egress-endpoints", ctx, 443, to_group=network.endpoint_sg.id, why="AWS APIs (VPC endpoints)"
    )
    hosts_sg.allow_egress(
        "hosts-egress-s3", ctx, 443, to_prefix_list=network.s3_endpoint.prefix_list_id, why="S3 (gateway endpoint)"
    )
    window = package_egress == "open"
    hosts_sg.allow_egress(
        "hosts-egress-internet-https",
        ctx,
        443,
        to_cidr="0.0.0.0/0",
        why="Identity keys (ALB signing keys, user pool JWKS) through the NAT"
        + ("; Debian mirrors (package window)" if window else ""),
        purpose=f"{IDENTITY_KEYS_PURPOSE} {PACKAGE_WINDOW_PURPOSE}" if window else IDENTITY_KEYS_PURPOSE,
        # The package window's rule of earlier versions becomes this one in place: no duplicate rule in between.
        aliases=["hosts-egress-packages"],
    )
    for i, m in enumerate(x for x in modalities if "move" in x.rights):
        cidr = f"{m.host}/{32 if m.host.version == 4 else 128}"
        hosts_sg.allow_egress(f"hosts-egress-move-{i}", ctx, m.port, to_cidr=cidr, why=f"C-MOVE to {m.aet}")
    hosts_sg.allow_egress("hosts-egress-db", ctx, 5432, to_group=database.security_group.id, why="Orthanc index (TLS)")
    if storage.efs_security_group is not None:
        hosts_sg.allow_egress(
            "hosts-egress-efs", ctx, 2049, to_group=storage.efs_security_group.id, why="Image store (NFS over TLS)"
        )
