"""systemd units for an EC2 host: the firewall and the audit sink first, then Orthanc as its own user, then nginx.

The audit sink runs as root; Orthanc's launcher (root) connects Orthanc's output to the sink and drops to the
orthanc user before Orthanc starts. Both run from the host bundle under Debian's Python.
"""

from __future__ import annotations

from orthanc_config import http_stack, identity_keys
from orthanc_config.files import RenderedFile
from orthanc_config.layout import HostLayout
from orthanc_config.userdata import BUNDLE_PATH, PROFILE_PATH

UNIT_DIR = "/etc/systemd/system"
LOG_SHIPPER = "pacsguard-log-shipper"


def library_argument(layout: HostLayout) -> str:
    """Orthanc loads the deeper-stack civetweb that GDCM needs (http_stack.py), when the bootstrap made it.

    The launcher puts it on Orthanc's LD_LIBRARY_PATH (not the unit's: that would reach the launcher too)."""
    if not http_stack.is_prepared(layout.library_dir):
        return ""
    return f" --library-dir {layout.library_dir}"


def render_units(layout: HostLayout) -> list[RenderedFile]:
    firewall = f"""[Unit]
Description=PACSGuard host firewall
Before=network-pre.target pacsguard-orthanc.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f {layout.nft_file}

[Install]
WantedBy=multi-user.target
"""
    audit = f"""[Unit]
Description=PACSGuard audit sink (hash-chained trail, RFC 5425 forwarding)
After=pacsguard-firewall.service
Before=pacsguard-orthanc.service pacsguard-nginx.service

[Service]
ExecStart=/usr/bin/python3 {BUNDLE_PATH} audit-sink --config {layout.audit_sink_config}
Restart=always
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths={layout.log_dir} {layout.run_dir}

[Install]
WantedBy=multi-user.target
"""
    launch = f"/usr/bin/python3 {BUNDLE_PATH} run-orthanc --config-dir {layout.config_dir} " + (
        f"--output-socket {layout.orthanc_output_socket}{library_argument(layout)}"
    )
    orthanc = f"""[Unit]
Description=Orthanc PACS (PACSGuard)
After=network-online.target pacsguard-firewall.service pacsguard-audit.service
Requires=pacsguard-firewall.service
BindsTo=pacsguard-audit.service

[Service]
# The launcher (root) connects Orthanc's output to the audit sink, then drops to the orthanc user; it puts
# the deeper-stack civetweb GDCM needs (http_stack.py) on LD_LIBRARY_PATH when the bootstrap made it.
ExecStart={launch}
Restart=on-failure
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths={layout.storage}
CapabilityBoundingSet=CAP_SETUID CAP_SETGID
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""
    nginx = f"""[Unit]
Description=nginx TLS front of Orthanc (PACSGuard)
After=pacsguard-orthanc.service

[Service]
Type=forking
PIDFile={layout.nginx_dir}/nginx.pid
ExecStart=/usr/sbin/nginx -c {layout.nginx_dir}/nginx.conf
ExecReload=/usr/sbin/nginx -c {layout.nginx_dir}/nginx.conf -s reload
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""
    shipper = f"""[Unit]
Description=PACSGuard log shipper (host, nginx and audit logs to CloudWatch Logs)
After=network-online.target pacsguard-orthanc.service
Wants=network-online.target

[Service]
ExecStart=/usr/bin/python3 {BUNDLE_PATH} ship-logs --profile {PROFILE_PATH}
Restart=always
RestartSec=5
# On stop (and so before an instance is terminated) it flushes what is left: give it time to.
TimeoutStopSec=60
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths={layout.state}

[Install]
WantedBy=multi-user.target
"""
    units = [
        RenderedFile(f"{UNIT_DIR}/pacsguard-firewall.service", firewall),
        RenderedFile(f"{UNIT_DIR}/pacsguard-audit.service", audit),
        RenderedFile(f"{UNIT_DIR}/pacsguard-orthanc.service", orthanc),
        RenderedFile(f"{UNIT_DIR}/pacsguard-nginx.service", nginx),
    ]
    if layout.profile.log_groups:
        units.append(RenderedFile(f"{UNIT_DIR}/{LOG_SHIPPER}.service", shipper))
    return units + identity_key_units(layout) + break_glass_units(layout) + db_credentials_units(layout)


IDENTITY_KEYS = "pacsguard-identity-keys"


def identity_key_units(layout: HostLayout) -> list[RenderedFile]:
    """The identity-key service (identity_keys.py): its own user, the one the firewall lets out on 443."""
    alb, jwks = identity_keys.sources(layout.profile)
    if not (alb or jwks):
        return []
    user = identity_keys.USER
    launch = (
        f'/usr/bin/python3 {BUNDLE_PATH} identity-keys --alb-key-url "{alb}" --jwks-url "{jwks}" '
        f"--socket {identity_keys.SOCKET} --cache-dir {identity_keys.CACHE_DIR} --user {user}"
    )
    service = f"""[Unit]
Description=PACSGuard identity keys (load balancer signing keys, user pool JWKS) for the Orthanc plugin
After=network-online.target pacsguard-firewall.service
Wants=network-online.target
Before=pacsguard-orthanc.service

[Service]
# Started as root only to read the host bundle (root's, 0600); it becomes {user} before opening any socket.
ExecStart={launch}
# Its directory (made by the bootstrap, pacsguard-keys:orthanc 0750) holds the socket and the key cache.
ReadWritePaths={identity_keys.SERVICE_DIR}
Restart=always
RestartSec=2
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
CapabilityBoundingSet=CAP_SETUID CAP_SETGID
SystemCallFilter=@system-service
ProtectProc=invisible
ProtectKernelLogs=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
# New files and directories private; the socket for Orthanc is chmod-ed explicitly (its directory guards it).
UMask=0077

[Install]
WantedBy=multi-user.target
"""
    return [RenderedFile(f"{UNIT_DIR}/{IDENTITY_KEYS}.service", service)]


BREAK_GLASS_TIMER = "pacsguard-break-glass.timer"


def break_glass_units(layout: HostLayout) -> list[RenderedFile]:
    """Follow the sealed secret's window tags every 30 s: how an emergency window opens and closes on every host."""
    if not layout.profile.break_glass_secret:
        return []
    service = f"""[Unit]
Description=PACSGuard break-glass window (from the sealed secret's tags)

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 {BUNDLE_PATH} break-glass-sync --profile {PROFILE_PATH}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths={layout.state}
"""
    return [
        RenderedFile(f"{UNIT_DIR}/pacsguard-break-glass.service", service),
        RenderedFile(f"{UNIT_DIR}/{BREAK_GLASS_TIMER}", _timer("Follow the PACSGuard break-glass window", 30)),
    ]


def _timer(description: str, every_s: int, jitter_s: int = 0) -> str:
    """A timer that runs its service at boot and every `every_s` seconds after (each run delayed by a random
    0..`jitter_s` seconds, chosen anew by every host)."""
    jitter = f"RandomizedDelaySec={jitter_s}s\n" if jitter_s else ""
    return f"""[Unit]
Description={description}

[Timer]
OnBootSec={every_s}s
OnUnitActiveSec={every_s}s
{jitter}
[Install]
WantedBy=timers.target
"""


DB_CREDENTIALS_TIMER = "pacsguard-db-credentials.timer"
DB_CREDENTIALS_JITTER_S = 30


def db_credentials_units(layout: HostLayout) -> list[RenderedFile]:
    """Follow the application role's secret every minute: a rotated password reaches Orthanc before it reconnects."""
    if not layout.profile.database.app_user:
        return []
    service = f"""[Unit]
Description=PACSGuard database credentials (follow the application role's rotated secret)

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 {BUNDLE_PATH} db-credentials --profile {PROFILE_PATH}
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes
"""
    # The jitter: after a rotation every host restarts Orthanc once; hosts whose timers run in step would restart
    # together and the load balancer would briefly have no healthy target.
    timer = _timer("Follow the PACSGuard database application secret", 60, jitter_s=DB_CREDENTIALS_JITTER_S)
    return [
        RenderedFile(f"{UNIT_DIR}/pacsguard-db-credentials.service", service),
        RenderedFile(f"{UNIT_DIR}/{DB_CREDENTIALS_TIMER}", timer),
    ]
