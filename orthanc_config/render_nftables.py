"""The host firewall: HTTPS from the HTTPS networks, DICOM TLS from the modality networks, nothing else.
Orthanc's own DICOM port (plain, behind nginx's TLS edge) admits only nginx's workers, even on loopback.

Applied only inside the host's own network namespace (never the machine's root namespace).
"""

from __future__ import annotations

import ipaddress

from orthanc_config.profile import HostProfile

TABLE = "pacsguard"
NGINX_WORKER_USER = "www-data"


def _sets(cidrs: tuple[str, ...]) -> tuple[str, str]:
    v4 = [c for c in cidrs if ipaddress.ip_network(c).version == 4]
    v6 = [c for c in cidrs if ipaddress.ip_network(c).version == 6]
    return ", ".join(v4), ", ".join(v6)


def render_nftables(profile: HostProfile) -> str:
    # Load balancer subnets on both ports: ALB traffic and NLB health checks come from there.
    https4, https6 = _sets((*profile.https_cidrs, *profile.lb_cidrs))
    dicom4, dicom6 = _sets((*profile.modality_cidrs, *profile.lb_cidrs))
    health4, health6 = _sets(profile.health_check_cidrs)
    rules = []
    for port, v4, v6, what in (
        (profile.https_port, https4, https6, "https"),
        (profile.dicom_port, dicom4, dicom6, "dicom-tls"),
        # The DICOM load balancer checks targets from its own addresses in the hosts' subnets.
        (profile.dicom_port, health4, health6, "load-balancer-health-checks"),
    ):
        if v4:
            rules.append(f'    ip saddr {{ {v4} }} tcp dport {port} accept comment "{what}"')
        if v6:
            rules.append(f'    ip6 saddr {{ {v6} }} tcp dport {port} accept comment "{what}"')
    body = "\n".join(rules)
    only_nginx = (
        f'oif "lo" tcp dport {profile.orthanc_dicom_port} meta skuid != "{NGINX_WORKER_USER}" '
        'reject with tcp reset comment "orthanc-dicom: nginx only"'
    )
    return f"""#!/usr/sbin/nft -f
# Rendered by PACSGuard. Orthanc's HTTP port ({profile.orthanc_http_port}) and PostgreSQL: loopback only.
table inet {TABLE}
delete table inet {TABLE}
table inet {TABLE} {{
  chain input {{
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state invalid drop
    ct state established,related accept
    icmp type {{ echo-request, destination-unreachable, time-exceeded }} limit rate 10/second accept
    icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, echo-request, packet-too-big }} accept
{body}
  }}
  chain output {{
    type filter hook output priority 0; policy accept;
    {only_nginx}
  }}
  chain forward {{
    type filter hook forward priority 0; policy drop;
  }}
}}
"""
