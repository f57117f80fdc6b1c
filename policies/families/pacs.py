"""The PACS itself: DICOM exposure and TLS, the AE allow-list, HTTP authentication, dangerous features,
the ATNA audit trail and data residency. Host controls judge the Orthanc configuration the stack's host
profile renders (the same renderer the hosts run)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from orthanc_config.profile import HostProfile
from policies import citations as c
from policies.graph import PlanGraph
from policies.host_profile import ProfileUnavailable, host_templates, rendered_orthanc, user_data_text
from policies.model import Citations, Control, Outcome, StackCheck
from stacks.settings import PROD_MIN_MODALITY_PREFIX, is_hospital_private

DICOM = Citations(
    hipaa=(c.TRANSMISSION, c.TRANSMISSION_ENC, c.AUTHENTICATION),
    gdpr=(c.GDPR_CIA,),
    dicom=(c.DICOM_TLS,),
    ihe=(c.ITI_19,),
)
ACCESS = Citations(hipaa=(c.ACCESS, c.AUTHENTICATION), gdpr=(c.GDPR_CIA, c.GDPR_BY_DESIGN))
WORLD = ("0.0.0.0/0", "::/0")
SECRET_PATTERNS = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r'"(password|RegisteredUsers)"\s*:', re.I),
)
DANGEROUS = {
    "WebDavEnabled": False, "WebDavUploadAllowed": False, "ExecuteLuaEnabled": False,
    "RestApiWriteToFileSystemEnabled": False, "HttpDescribeErrors": False, "UnknownSopClassAccepted": False,
}  # fmt: skip
ALWAYS_ALLOW = ("Echo", "Store", "Find", "FindWorklist", "Get", "Move")

HostCheck = Callable[[HostProfile, dict], str | None]


def _per_host(check: HostCheck, ok: str) -> Callable[[PlanGraph], list[Outcome]]:
    def run(g: PlanGraph) -> list[Outcome]:
        out = []
        for t in host_templates(g):
            try:
                profile, cfg = rendered_orthanc(t)
            except ProfileUnavailable as exc:
                out.append(Outcome(t.name, "skipped", str(exc)))
                continue
            failure = check(profile, cfg)
            out.append(Outcome(t.name, "fail" if failure else "pass", failure or ok))
        return out or [Outcome("stack", "skipped", "not applicable: no PACS hosts in this stack")]

    return run


MIN_MODALITY_PREFIX = PROD_MIN_MODALITY_PREFIX  # the bound prod settings enforce


def _dicom_source_failure(cidr: str) -> str | None:
    """A modality network is private and no wider than a /16; anything else exposes DICOM beyond the hospital."""
    if cidr in WORLD:
        return "DICOM port open to the internet"
    net = ipaddress.ip_network(cidr, strict=False)
    if not is_hospital_private(net):
        return f"DICOM port open to the non-private network {cidr}"
    if net.prefixlen < MIN_MODALITY_PREFIX:
        return f"DICOM port open to {cidr}, wider than a /{MIN_MODALITY_PREFIX} modality network"
    return None


def _dicom_exposure(g: PlanGraph) -> list[Outcome]:
    ports = set()
    for t in host_templates(g):
        try:
            ports.add(rendered_orthanc(t)[0].dicom_port)
        except ProfileUnavailable:
            ports.add(2762)
    out = []
    for rule in g.of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        i = rule.inputs
        if i.get("fromPort") is None or not any(
            i["fromPort"] <= p <= (i.get("toPort") or i["fromPort"]) for p in ports
        ):
            continue
        source = i.get("cidrIpv4") or i.get("cidrIpv6")
        failure = _dicom_source_failure(source) if source else None
        out.append(Outcome(rule.name, "fail" if failure else "pass", failure or "modality networks only"))
    return out or [Outcome("stack", "skipped", "not applicable: no DICOM ingress rules")]


def _dicom_tls(profile: HostProfile, cfg: dict) -> str | None:
    if cfg.get("DicomTlsEnabled"):  # Orthanc's own TLS (no AE binding, weak TLS 1.2 suites on 1.10.1)
        if not cfg.get("DicomTlsRemoteCertificateRequired"):
            return "modalities are not required to present a certificate (no mutual TLS)"
        bad = [aet for aet, m in cfg.get("DicomModalities", {}).items() if not m.get("UseDicomTls")]
        return f"modalities {', '.join(bad)} connect without TLS" if bad else None
    # Plain DICOM in Orthanc is safe only behind the nginx edge, which always renders mutual TLS: Orthanc must
    # not take the public DICOM port, and every peer must be reached through a loopback address of the edge.
    if cfg.get("DicomPort") == profile.dicom_port:
        return "Orthanc serves DICOM in clear on the public DICOM port (no TLS edge in front of it)"
    direct = [aet for aet, m in cfg.get("DicomModalities", {}).items() if not str(m.get("Host", "")).startswith("127.")]
    return f"modalities {', '.join(direct)} are reached in clear, not through the TLS edge" if direct else None


def _ae_allow_list(profile: HostProfile, cfg: dict) -> str | None:
    open_ops = [op for op in ALWAYS_ALLOW if cfg.get(f"DicomAlwaysAllow{op}")]
    if open_ops:
        return f"any AE may {', '.join(open_ops).lower()} (DicomAlwaysAllow*)"
    if not cfg.get("DicomCheckCalledAet") or not cfg.get("StrictAetComparison"):
        return "called AE title is not checked strictly"
    if not cfg.get("DicomCheckModalityHost"):
        return "AE titles are not bound to their hosts (DicomCheckModalityHost)"
    return None


def _http_auth(profile: HostProfile, cfg: dict) -> str | None:
    if not cfg.get("AuthenticationEnabled"):
        return "Orthanc's REST API answers without authentication"
    if cfg.get("RemoteAccessAllowed"):
        return "Orthanc's HTTP port answers clients other than the local nginx"
    if "jwt" in profile.identity and profile.mode == "aws" and not profile.jwt_signer:
        return "identity tokens are accepted from any load balancer of the region (no signer pinned)"
    return None


def _no_default_credentials(g: PlanGraph) -> list[Outcome]:
    out = []
    for t in host_templates(g):
        text = user_data_text(t)
        leaked = [p.pattern for p in SECRET_PATTERNS if p.search(text)]
        if leaked:
            out.append(
                Outcome(
                    t.name,
                    "fail",
                    "user data carries credentials (they are readable by anyone who can describe the instance)",
                )
            )
            continue
        try:
            profile, _ = rendered_orthanc(t)
        except ProfileUnavailable as exc:
            out.append(Outcome(t.name, "skipped", str(exc)))
            continue
        if profile.mode == "aws" and "basic" in profile.identity:
            out.append(
                Outcome(
                    t.name,
                    "fail",
                    "password logins on cloud hosts: identity must come from the signed load-balancer token",
                )
            )
        else:
            out.append(Outcome(t.name, "pass", "no credentials shipped; passwords are generated or fetched at boot"))
    return out or [Outcome("stack", "skipped", "not applicable: no PACS hosts in this stack")]


def _dangerous_features(profile: HostProfile, cfg: dict) -> str | None:
    on = [k for k, safe in DANGEROUS.items() if cfg.get(k) != safe]
    if on:
        return f"dangerous options enabled: {', '.join(on)}"
    if any(not str(p).endswith(".so") for p in cfg.get("Plugins", [])):
        return "plugins are loaded from a folder (anything dropped there runs inside Orthanc)"
    limited = cfg.get("MaximumStorageSize") or cfg.get("MaximumPatientCount")
    if limited and cfg.get("MaximumStorageMode") != "Reject":
        return "storage limits evict the oldest patients (a C-STORE flood deletes real data)"
    return None


def _atna(g: PlanGraph) -> list[Outcome]:
    out = []
    groups = {lg.inputs.get("name", "") for lg in g.of("aws:cloudwatch/logGroup:LogGroup")}
    for t in host_templates(g):
        try:
            profile, cfg = rendered_orthanc(t)
        except ProfileUnavailable as exc:
            out.append(Outcome(t.name, "skipped", str(exc)))
            continue
        if not str(cfg.get("PythonScript", "")).endswith("pacsguard_plugin.py"):
            failure = "the RBAC/audit plugin is not loaded: no audit trail"
        elif not cfg.get("DeidentifyLogs"):
            failure = "Orthanc's own log is not de-identified"
        elif profile.log_groups.get("orthanc-audit") not in groups:
            failure = "no log group receives the audit trail"
        else:
            failure = None
        out.append(
            Outcome(
                t.name,
                "fail" if failure else "pass",
                failure or "ATNA-style audit trail shipped to an encrypted log group",
            )
        )
    return out or [Outcome("stack", "skipped", "not applicable: no PACS hosts in this stack")]


def _residency(g: PlanGraph) -> list[Outcome]:
    if not g.allowed_regions:
        return [
            Outcome("stack", "skipped", "no allowed regions configured (settings allowed_regions or policy config)")
        ]
    out = []
    regions = {g.region} | {r.provider_region for r in g.resources if r.provider_region}
    regions |= {r.inputs.get("region") for r in g.of("pulumi:providers:aws") if r.inputs.get("region")}
    for region in sorted(x for x in regions if x):
        outside = region not in g.allowed_regions
        out.append(
            Outcome(
                region,
                "fail" if outside else "pass",
                f"resources in {region}, outside {g.allowed_regions}" if outside else "allowed region",
            )
        )
    return out


CONTROLS = [
    Control(
        id="PACS-DICOM-EXPOSURE",
        title="The DICOM port is open only to modality networks",
        family="pacs",
        severity="critical",
        rationale="Internet-reachable DICOM ports are how millions of studies were found readable by anyone.",
        remediation="List dicom.modality_cidrs; prod refuses 0.0.0.0/0 and ::/0.",
        citations=DICOM,
        equivalents={"prowler": "ec2_securitygroup_allow_ingress_from_internet_to_any_port"},
        plan=StackCheck(_dicom_exposure),
        layers_extra=("wire",),
    ),
    Control(
        id="PACS-DICOM-TLS",
        title="DICOM uses mutual TLS",
        family="pacs",
        severity="critical",
        rationale="DICOM carries patient demographics and pixels; mutual TLS authenticates both ends (ITI-19).",
        remediation="Keep Orthanc's DICOM port behind the rendered nginx TLS edge; give each modality a certificate.",
        citations=DICOM,
        equivalents={},
        plan=StackCheck(_per_host(_dicom_tls, "mutual TLS on every association")),
        layers_extra=("wire",),
    ),
    Control(
        id="PACS-AE-ALLOWLIST",
        title="Only listed AE titles, from their own hosts, may do what they are granted",
        family="pacs",
        severity="critical",
        rationale="Without an allow-list any device on the network can store, query and retrieve studies.",
        remediation="Keep every DicomAlwaysAllow* off; list modalities with their host and rights in dicom.modalities.",
        citations=DICOM,
        equivalents={},
        plan=StackCheck(_per_host(_ae_allow_list, "AE allow-list bound to hosts")),
        layers_extra=("wire",),
    ),
    Control(
        id="PACS-HTTP-AUTH",
        title="Orthanc's REST API requires authentication and answers only nginx",
        family="pacs",
        severity="critical",
        rationale="CVE-2025-0896: Orthanc before 1.5.8 allowed remote access without authentication.",
        remediation="AuthenticationEnabled, RemoteAccessAllowed false, and the load balancer pinned as the token signer.",
        citations=ACCESS,
        equivalents={},
        plan=StackCheck(_per_host(_http_auth, "authenticated, loopback-only REST API")),
        layers_extra=("wire",),
    ),
    Control(
        id="PACS-NO-DEFAULT-CREDENTIALS",
        title="No default or shipped credentials",
        family="pacs",
        severity="critical",
        rationale="orthanc:orthanc and passwords in user data are the first things an attacker tries and reads.",
        remediation="Generate passwords on the host or fetch them at boot; never put them in user data.",
        citations=ACCESS,
        equivalents={"prowler": "ec2_launch_template_no_secrets"},
        plan=StackCheck(_no_default_credentials),
        layers_extra=("wire",),
    ),
    Control(
        id="PACS-DANGEROUS-FEATURES",
        title="WebDAV, Lua, file-system writes and error details are off",
        family="pacs",
        severity="high",
        rationale="/tools/execute-script runs Lua; /instances/{id}/export wrote files (CVE-2023-33466); WebDAV bypasses RBAC.",
        remediation="Keep the rendered defaults; list plugins by file; no limits that evict patients.",
        citations=ACCESS,
        equivalents={},
        plan=StackCheck(_per_host(_dangerous_features, "dangerous features off")),
        layers_extra=("wire",),
    ),
    Control(
        id="PACS-ATNA-AUDIT",
        title="Every PACS access is recorded (IHE ATNA)",
        family="pacs",
        severity="high",
        rationale="The plugin writes a DICOM PS3.15 A.5 style record for each decision; without it access is unaccountable.",
        remediation="Load the PACSGuard plugin and ship orthanc-audit to its encrypted log group.",
        citations=Citations(
            hipaa=(c.AUDIT,), gdpr=(c.GDPR_CIA,), dicom=(c.DICOM_AUDIT, c.DICOM_CONFIDENTIALITY), ihe=(c.ITI_20,)
        ),
        equivalents={},
        plan=StackCheck(_atna),
        layers_extra=("wire",),
    ),
    Control(
        id="PACS-DATA-RESIDENCY",
        title="PHI stays in the allowed regions",
        family="pacs",
        severity="high",
        rationale="GDPR Art. 44 restricts transfers outside the EEA; hospitals often require a single jurisdiction.",
        remediation="Set allowed_regions; keep backup.copy_region inside it.",
        citations=Citations(gdpr=(c.GDPR_TRANSFER,)),
        equivalents={},
        plan=StackCheck(_residency),
    ),
]
