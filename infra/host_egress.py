"""Where the PACS hosts may send, port by port: nothing outside named destinations but a package window."""

from __future__ import annotations

from infra.context import StackContext
from infra.database import Database
from infra.hosts import HostsSecurityGroup
from infra.network import Network
from infra.storage import Storage
from stacks.settings import ModalitySettings


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
    the Debian mirrors through the NAT only while hosts.package_egress is open (first boot, patch windows)."""
    hosts_sg.allow_egress(
        "hosts-egress-endpoints", ctx, 443, to_group=network.endpoint_sg.id, why="AWS APIs (VPC endpoints)"
    )
    hosts_sg.allow_egress(
        "hosts-egress-s3", ctx, 443, to_prefix_list=network.s3_endpoint.prefix_list_id, why="S3 (gateway endpoint)"
    )
    if package_egress == "open":
        hosts_sg.allow_egress(
            "hosts-egress-packages",
            ctx,
            443,
            to_cidr="0.0.0.0/0",
            why="Debian mirrors through the NAT (package window)",
            purpose="package-window",
        )
    for i, m in enumerate(x for x in modalities if "move" in x.rights):
        cidr = f"{m.host}/{32 if m.host.version == 4 else 128}"
        hosts_sg.allow_egress(f"hosts-egress-move-{i}", ctx, m.port, to_cidr=cidr, why=f"C-MOVE to {m.aet}")
    hosts_sg.allow_egress("hosts-egress-db", ctx, 5432, to_group=database.security_group.id, why="Orthanc index (TLS)")
    if storage.efs_security_group is not None:
        hosts_sg.allow_egress(
            "hosts-egress-efs", ctx, 2049, to_group=storage.efs_security_group.id, why="Image store (NFS over TLS)"
        )
