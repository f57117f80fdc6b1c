"""The host firewall: HTTPS from the HTTPS networks, DICOM TLS from the modality networks, nothing else.
Orthanc's own DICOM and HTTP ports (plain, behind nginx's TLS edge) admit only nginx's workers, even on
loopback: no other local process reaches Orthanc, so none can choose the X-Real-IP the audit records.

Egress: export destinations are configuration as code. Orthanc (the orthanc user) reaches nothing but
loopback and its database; nginx's workers reach only the configured modalities (the DICOM relays). On AWS
the identity-key service's user (identity_keys.py) alone may open HTTPS to the internet, for the load
balancer's signing keys and the user pool's JWKS, and resolve names through the host's resolvers. Any other
new connection from these users is refused and counted. The security group must allow 443 to the internet for
that service, so with hosts.package_egress: closed this chain also holds every other user (root's apt and SSM
agent, Session Manager operators, timers) to HTTPS inside the VPC (the interface endpoints) and to the S3 gateway
endpoint's prefix list, as the security group did before the key service existed.

Applied only inside the host's own network namespace (never the machine's root namespace).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from orthanc_config import identity_keys
from orthanc_config.profile import HostProfile

TABLE = "pacsguard"
NGINX_WORKER_USER = "www-data"
ORTHANC_USER = "orthanc"


def _sets(cidrs: tuple[str, ...]) -> tuple[str, str]:
    v4 = [c for c in cidrs if ipaddress.ip_network(c).version == 4]
    v6 = [c for c in cidrs if ipaddress.ip_network(c).version == 6]
    return ", ".join(v4), ", ".join(v6)


def system_resolvers(resolv_conf: Path = Path("/etc/resolv.conf")) -> tuple[str, ...]:
    """The name servers libc asks (Orthanc resolves the RDS endpoint through them)."""
    try:
        text = resolv_conf.read_text()
    except OSError:
        return ()
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and _is_ip(parts[1].split("%")[0]):
            found.append(parts[1].split("%")[0])
    return tuple(found)


def render_nftables(profile: HostProfile, resolvers: tuple[str, ...] | None = None) -> str:
    """resolvers: the name servers Orthanc may ask; None reads /etc/resolv.conf of the host rendering it."""
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
    behind_nginx = ((profile.orthanc_dicom_port, "orthanc-dicom"), (profile.orthanc_http_port, "orthanc-http"))
    only_nginx = "\n    ".join(
        f'oif "lo" tcp dport {port} meta skuid != "{NGINX_WORKER_USER}" '
        f'reject with tcp reset comment "{what}: nginx only"'
        for port, what in behind_nginx
    )
    egress = "\n    ".join(egress_rules(profile, system_resolvers() if resolvers is None else resolvers))
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
    oif "lo" accept
    ct state established,related accept
    {egress}
  }}
  chain forward {{
    type filter hook forward priority 0; policy drop;
  }}
}}
"""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _daddr(addresses: tuple[str, ...]) -> str:
    """An nftables destination match for addresses of one family ('' when there are none)."""
    if not addresses:
        return ""
    family = "ip6" if ipaddress.ip_address(addresses[0]).version == 6 else "ip"
    return f"{family} daddr {{ {', '.join(addresses)} }} "


def _resolve(user: str, why: str, resolvers: tuple[str, ...]) -> list[str]:
    """Name lookups only to the host's own resolvers, so DNS cannot carry data to any server on the internet."""
    v4 = tuple(a for a in resolvers if ipaddress.ip_address(a).version == 4)
    v6 = tuple(a for a in resolvers if ipaddress.ip_address(a).version == 6)
    where = [_daddr(v4), _daddr(v6)] if resolvers else [""]
    return [
        f'meta skuid "{user}" {w}{proto} dport 53 accept comment "{why}"'
        for w in where
        if w or not resolvers
        for proto in ("udp", "tcp")
    ]


def egress_rules(profile: HostProfile, resolvers: tuple[str, ...] = ()) -> list[str]:
    """New outbound connections of the orthanc, identity-key and nginx users: the configured destinations only."""
    rules = []
    db = profile.database
    if not db.over_socket and not db.host.startswith("127.") and db.host != "localhost":
        # An RDS endpoint is a name, not an address: its port is the narrowest rule nftables can hold.
        rules += _resolve(ORTHANC_USER, "orthanc: resolve the database", resolvers)
        rules.append(f'meta skuid "{ORTHANC_USER}" tcp dport {db.port} accept comment "orthanc: database"')
    # No HTTPS for Orthanc: it asks the identity-key service on a Unix socket for every key it verifies with.
    rules.append(f'meta skuid "{ORTHANC_USER}" counter reject comment "orthanc: no other egress"')
    if identity_keys.needed(profile):
        keys = identity_keys.USER
        rules += _resolve(keys, "identity keys: resolve the key endpoints", resolvers)
        rules.append(
            f'meta skuid "{keys}" tcp dport 443 accept comment "identity keys: load balancer keys, user pool JWKS"'
        )
        rules.append(f'meta skuid "{keys}" counter reject comment "identity keys: no other egress"')
    for m in profile.modalities:
        family = "ip6" if _is_ip(m.host) and ipaddress.ip_address(m.host).version == 6 else "ip"
        where = f"{family} daddr {m.host} " if _is_ip(m.host) else ""
        rules.append(
            f'meta skuid "{NGINX_WORKER_USER}" {where}tcp dport {m.port} accept comment "dicom relay to {m.aet}"'
        )
    rules.append(f'meta skuid "{NGINX_WORKER_USER}" counter reject comment "nginx: only configured modalities"')
    if profile.package_egress == "closed":
        rules += closed_window_rules(profile)
    return rules


def closed_window_rules(profile: HostProfile) -> list[str]:
    """Package window closed: new HTTPS from any user but the key service only to the VPC and the S3 prefix list.
    A family with no allowed network (IPv6 here: the VPC and S3's prefix list are IPv4) gets no HTTPS at all."""
    # nft resolves the user name when it loads the ruleset: name the key service only where the bootstrap made it.
    others = f'meta skuid != "{identity_keys.USER}" ' if identity_keys.needed(profile) else ""
    v4, v6 = _sets(profile.https_egress_cidrs)
    why = "package window closed: HTTPS only to the VPC endpoints and S3"
    return [
        f"{others}{f'{family} daddr != {{ {nets} }}' if nets else f'meta nfproto {proto}'} tcp dport 443 "
        f'ct state new counter reject with tcp reset comment "{why}"'
        for family, proto, nets in (("ip", "ipv4", v4), ("ip6", "ipv6", v6))
    ]
