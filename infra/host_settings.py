"""What the PACS hosts need of the settings (launch template, firewall, the user data's host profile), derived once
from the validated Settings so the Hosts component takes exactly this in its Args."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from infra.lb_subnets import load_balancer_cidrs
from orthanc_config.profile import Modality
from stacks.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HostSettings:
    count: int
    instance_type: str
    root_volume_gb: int
    image_store: str  # storage.mode: efs (shared) or ebs (one host, one volume)
    ebs_size_gb: int
    dicom_port: int
    modality_networks: tuple[Network, ...]  # what the hosts' group admits on the DICOM port
    https_cidrs: tuple[str, ...]  # the HTTPS networks and the VPC (the load balancers forward from inside it)
    lb_cidrs: tuple[str, ...]  # the load balancers' subnets: nginx trusts their X-Forwarded-For
    health_check_cidrs: tuple[str, ...]  # NLB health checks come from its private addresses in the VPC
    modalities: tuple[Modality, ...]
    package_egress: str  # hosts.package_egress: closed, the host firewall keeps HTTPS to the VPC and S3
    vpc_cidr: str
    session_timeout_minutes: int
    emergency_access_minutes: int


def host_settings(s: Settings) -> HostSettings:
    return HostSettings(
        count=s.hosts.count,
        instance_type=s.hosts.instance_type,
        root_volume_gb=s.hosts.root_volume_gb,
        image_store=s.storage.mode,
        ebs_size_gb=s.storage.ebs_size_gb,
        dicom_port=s.dicom.port,
        modality_networks=tuple(s.dicom.modality_cidrs),
        https_cidrs=(*(str(c) for c in s.https.cidrs), str(s.vpc_cidr)),
        lb_cidrs=load_balancer_cidrs(s),
        health_check_cidrs=(str(s.vpc_cidr),),
        modalities=tuple(
            Modality(aet=m.aet, host=str(m.host), port=m.port, rights=tuple(m.rights)) for m in s.dicom.modalities
        ),
        package_egress=s.hosts.package_egress,
        vpc_cidr=str(s.vpc_cidr),
        session_timeout_minutes=s.web.session_timeout_minutes,
        emergency_access_minutes=s.identity.emergency_access_minutes,
    )
