"""The running host, as a modality, a user and an intruder see it: checked on the wire by `pacsguard verify`."""

from __future__ import annotations

from policies import citations as c
from policies.model import Citations, Control

ACCESS = Citations(hipaa=(c.ACCESS, c.AUTHENTICATION), gdpr=(c.GDPR_CIA,))

CONTROLS = [
    Control(
        id="PACS-RBAC",
        title="Each role reaches exactly its routes",
        family="host",
        severity="critical",
        rationale="Least privilege inside the PACS: an auditor reads the trail, not images; a technologist uploads, not downloads.",
        remediation="Keep roles in the plugin's route table; give users the least powerful role that does their job.",
        citations=Citations(hipaa=(c.ACCESS, c.UNIQUE_ID), gdpr=(c.GDPR_CIA, c.GDPR_BY_DESIGN)),
        layers_extra=("wire",),
    ),
    Control(
        id="PACS-HTTP-HARDENING",
        title="HTTPS refuses old TLS, sends HSTS, leaks no internals, survives hostile bodies",
        family="host",
        severity="high",
        rationale="CVE-2026-5437..5445 (Orthanc < 1.12.11): gzip bombs and ~4 GB Content-Length crash or exhaust the server.",
        remediation="Keep nginx in front: TLS 1.2/1.3, HSTS, client_max_body_size, compressed bodies refused.",
        citations=Citations(hipaa=(c.TRANSMISSION, c.TRANSMISSION_ENC), gdpr=(c.GDPR_CIA,)),
        layers_extra=("wire",),
    ),
    Control(
        id="PACS-DICOM-ROBUSTNESS",
        title="Malformed and oversized PDUs leave DICOM answering",
        family="host",
        severity="medium",
        rationale="A modality on a flaky network, or an attacker, must not be able to stop image reception.",
        remediation="Run a current Orthanc; keep the firewall limiting who can reach the DICOM port.",
        citations=Citations(hipaa=(c.DISASTER_RECOVERY,), gdpr=(c.GDPR_CIA,), dicom=(c.DICOM_TLS,)),
        layers_extra=("wire",),
    ),
    Control(
        id="HOST-FIREWALL",
        title="Only HTTPS and DICOM TLS are reachable from outside the host",
        family="host",
        severity="critical",
        rationale="Orthanc binds every interface and its HTTP port speaks plain HTTP; PostgreSQL holds the index.",
        remediation="Load the rendered nftables ruleset (policy drop; 443 and the DICOM TLS port from their networks).",
        citations=Citations(hipaa=(c.ACCESS, c.TRANSMISSION), gdpr=(c.GDPR_CIA,)),
        layers_extra=("wire",),
    ),
    Control(
        id="HOST-SERVICE-USER",
        title="Orthanc runs as its own unprivileged user",
        family="host",
        severity="high",
        rationale="A DICOM parser bug exploited as root owns the host; as orthanc it owns the images only.",
        remediation="Start Orthanc with the rendered systemd unit (User=orthanc) or `local up` (setpriv).",
        citations=ACCESS,
        layers_extra=("wire",),
    ),
    Control(
        id="HOST-FILE-PERMISSIONS",
        title="Configuration, credentials, keys and the audit trail are readable only by those who need them",
        family="host",
        severity="critical",
        rationale="A world-readable credentials file or private key undoes every other control.",
        remediation="Re-run the bootstrap: it writes each file with its owner and mode before its content.",
        citations=Citations(hipaa=(c.ACCESS, c.INTEGRITY), gdpr=(c.GDPR_CIA,)),
        layers_extra=("wire",),
    ),
    Control(
        id="HOST-PACKAGES",
        title="The PACS packages are installed, at the Orthanc version the profile targets",
        family="host",
        severity="low",
        rationale="The renderer emits options by version; a mismatch silently drops or breaks settings.",
        remediation="Install the packages the bootstrap lists; set orthanc_version in the profile to the installed one.",
        citations=Citations(hipaa=(c.INTEGRITY,), gdpr=(c.GDPR_CIA,)),
        layers_extra=("wire",),
    ),
]
