"""The plugin's decisions, composed: identify, decide, record, and only then allow. No Orthanc import here."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import pacsguard_audit as audit
import pacsguard_csrf as csrf
import pacsguard_emergency as emergency
import pacsguard_identity as identity
import pacsguard_lockout as lockout
import pacsguard_machine as machine
import pacsguard_rbac as rbac

LOOPBACK = ("127.0.0.1", "::1")
STORE_REFUSED = 0xA700  # DICOM "Refused: out of resources": the store is not acknowledged


@dataclass
class GuardSettings:
    roles: dict[str, str]
    audit_log: str
    identity_mode: str = "basic+jwt"
    jwt_public_key_pem: bytes = b""
    jwt_signer: str = ""
    jwt_key_url: str = ""  # on AWS: the ALB's regional key endpoint, https://.../{kid}
    audit_socket: str = ""  # the audit sink's datagram socket; without it the guard refuses to start
    orthanc_log: str = ""
    machine: dict | None = None  # the "Machine" section: issuer, JWKS, resource server, client ids
    session_timeout_minutes: int = 15
    emergency_window: str = ""  # the break-glass window file; absent file = no emergency access
    max_auth_failures: int = lockout.DEFAULT_MAX_FAILURES
    max_auth_failures_per_address: int = lockout.DEFAULT_MAX_FAILURES_PER_ADDRESS
    auth_failure_window: float = lockout.DEFAULT_WINDOW_SECONDS

    @classmethod
    def from_orthanc_configuration(cls, configuration: str) -> GuardSettings:
        section = json.loads(configuration)["PACSGuard"]
        pem = b""
        if "jwt" in section["Identity"] and section.get("JwtPublicKeyFile"):
            with open(section["JwtPublicKeyFile"], "rb") as fh:
                pem = fh.read()
        return cls(
            roles=dict(section["Roles"]),
            audit_log=section["AuditLog"],
            identity_mode=section["Identity"],
            jwt_public_key_pem=pem,
            jwt_signer=section.get("JwtSigner", ""),
            jwt_key_url=section.get("JwtKeyUrl", ""),
            audit_socket=section.get("AuditSocket", ""),
            orthanc_log=section.get("OrthancLog", ""),
            machine=section.get("Machine"),
            session_timeout_minutes=int(section.get("SessionTimeoutMinutes", 15)),
            emergency_window=section.get("Emergency", {}).get("WindowFile", ""),
            max_auth_failures=int(section.get("MaxAuthFailures", lockout.DEFAULT_MAX_FAILURES)),
            max_auth_failures_per_address=int(
                section.get("MaxAuthFailuresPerAddress", lockout.DEFAULT_MAX_FAILURES_PER_ADDRESS)
            ),
            auth_failure_window=float(section.get("AuthFailureWindowSeconds", lockout.DEFAULT_WINDOW_SECONDS)),
        )


# (level, Orthanc id) -> the StudyInstanceUIDs it belongs to; the plugin asks Orthanc itself.
StudyResolver = Callable[[str, str], list[str]]
# An Orthanc id of a study, series or instance is a hash of the DICOM UIDs above it: it names one study forever.
# A patient's studies change as studies arrive, so a patient is never cached, nor an id Orthanc did not know.
STUDY_CACHE_LEVELS = frozenset({"studies", "series", "instances"})
STUDY_CACHE_SIZE = 10_000


class CachedStudies:
    """A StudyResolver that asks Orthanc once per id that cannot change study, and at most `size` ids at a time."""

    def __init__(self, resolve: StudyResolver, size: int = STUDY_CACHE_SIZE) -> None:
        self.resolve = resolve
        self.size = size
        self.known: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self.lock = threading.Lock()  # Orthanc calls the filter from many threads

    def __call__(self, level: str, orthanc_id: str) -> list[str]:
        key = (level, orthanc_id)
        with self.lock:
            if key in self.known:
                self.known.move_to_end(key)
                return list(self.known[key])
        found = self.resolve(level, orthanc_id)
        if found and level in STUDY_CACHE_LEVELS:
            with self.lock:
                self.known[key] = list(found)
                if len(self.known) > self.size:
                    self.known.popitem(last=False)
        return found


class Guard:
    def __init__(self, settings: GuardSettings, studies_of: StudyResolver | None = None) -> None:
        self.settings = settings
        self.studies_of = CachedStudies(studies_of) if studies_of else None
        self.log = audit.AuditLog(settings.audit_log, settings.audit_socket)
        self.jwt_key = identity.load_public_key(settings.jwt_public_key_pem) if settings.jwt_public_key_pem else None
        self.alb_keys = identity.AlbKeys(settings.jwt_key_url) if settings.jwt_key_url else None
        self.failures = lockout.FailureLimit(settings.max_auth_failures, settings.auth_failure_window)
        self.address_failures = lockout.FailureLimit(
            settings.max_auth_failures_per_address, settings.auth_failure_window
        )
        if self.alb_keys and not settings.jwt_signer:
            raise identity.IdentityError(
                "JwtKeyUrl needs JwtSigner: every load balancer of the region shares those keys"
            )
        self.machine = machine.verifier_from_section(settings.machine or {})

    def identify(self, headers: dict[str, str], path: str = "") -> identity.Identity:
        bearer = headers.get(machine.BEARER_HEADER)
        if bearer:
            if self.machine is None:
                raise identity.IdentityError("bearer token present but this host admits no machine client")
            if self.settings.roles.get(identity.basic_user(headers) or "") != "gateway":
                raise identity.IdentityError("bearer header not set by the gateway (nginx): refused")
            try:
                m = self.machine.verify(bearer, path.split("?", 1)[0])
            except machine.MachineTokenError as exc:
                raise identity.IdentityError(f"machine token: {exc}") from None
            return identity.Identity(f"machine:{m.client_id}", m.role, "machine")
        token = headers.get(identity.JWT_HEADER)
        if token:
            if "jwt" not in self.settings.identity_mode or (self.jwt_key is None and self.alb_keys is None):
                raise identity.IdentityError("signed identity header present but JWT identity is not enabled")
            key = self.alb_keys.key_for(token) if self.alb_keys else self.jwt_key
            claims = identity.verify_jwt(token, key, signer=self.settings.jwt_signer)
            identity.check_session_age(claims, self.settings.session_timeout_minutes)
            return identity.Identity(
                identity.user_from_claims(claims),
                identity.role_from_claims(claims, (*rbac.ROLES, emergency.ROLE)),
                "jwt",
            )
        user = identity.basic_user(headers)
        if user is None:
            raise identity.IdentityError("no credentials")
        if "basic" not in self.settings.identity_mode and self.settings.roles.get(user) != "gateway":
            raise identity.IdentityError("HTTP Basic identity is not enabled on this host")
        return identity.Identity(user, self.settings.roles.get(user), "basic")

    def http(self, method: str, uri: str, ip: str, headers: dict[str, str]) -> bool:
        """True to let Orthanc serve the request. Any failure, including the audit write, refuses it."""
        source_ip = self.source_ip(ip, headers)
        if self.locked_out(source_ip, headers):
            self._authentication_failure(headers, source_ip, method, uri, "locked out after failed sign-ins")
            return False
        try:
            who = self.identify(headers, uri)
        except identity.IdentityError as exc:
            self._authentication_failure(headers, source_ip, method, uri, str(exc))
            return False
        if who.role == emergency.ROLE:
            return self._emergency(who, method, uri, source_ip)
        decision = rbac.decide(who.role, method, uri)
        forged = csrf.cross_site_refusal(method, headers)
        if forged and decision.allowed:
            decision = rbac.refused(decision, forged)
        # Record every decision, refusals included; an unrecorded request is never allowed.
        exported = self._exported_studies(uri) if decision.permission == "download" else {}
        recorded = self._record(
            **exported,
            event_id=decision.event_id,
            event_name=decision.event,
            action=decision.action,
            outcome=decision.outcome,
            user=who.user,
            role=who.role,
            source_ip=source_ip,
            method=method,
            path=uri,
            reason=decision.reason,
        )
        return decision.allowed and recorded

    def _emergency(self, who: identity.Identity, method: str, uri: str, source_ip: str) -> bool:
        """Break-glass: read-only, only inside an open window, every request recorded as emergency (and alarmed)."""
        try:
            window = emergency.open_window(self.settings.emergency_window) if self.settings.emergency_window else None
            if window is None:
                raise emergency.EmergencyError("this host has no emergency access window")
            decision = rbac.decide(emergency.EFFECTIVE_ROLE, method, uri)
            event_id, name, action, outcome = decision.event_id, decision.event, decision.action, decision.outcome
            reason = f"emergency access ({window.reason}; opened by {window.opened_by}): {decision.reason}"
            allowed = decision.allowed
        except emergency.EmergencyError as exc:
            event_id, name, action = rbac.EVENTS["forbidden"]
            outcome, reason, allowed = rbac.OUTCOME_SERIOUS_FAILURE, f"emergency access refused: {exc}", False
        fields = dict(
            event_id=event_id,
            event_name=name,
            action=action,
            outcome=outcome,
            user=who.user,
            role=emergency.ROLE,
            source_ip=source_ip,
            method=method,
            path=uri,
            reason=reason,
            emergency=True,
        )
        # The sink writes an alarm line for every record marked emergency and acknowledges only once both are
        # stored: an emergency request nobody is told about is not allowed.
        recorded = self._record(**fields)
        return allowed and recorded

    @staticmethod
    def source_ip(ip: str, headers: dict[str, str]) -> str:
        """The client's address: nginx's X-Real-IP when the request came through it on loopback."""
        return headers.get("x-real-ip", ip) if ip in LOOPBACK else ip

    def locked_out(self, address: str, headers: dict[str, str]) -> bool:
        # nginx's failure report names the user who failed; any other request names its own Basic user.
        user = headers.get("x-pacsguard-failed-user") or identity.basic_user(headers)
        return self.address_failures.locked(address) or bool(user and self.failures.locked(f"{address} {user}"))

    def sign_in_failed(self, headers: dict[str, str]) -> None:
        """nginx saw a 401: a request that named a user counts towards that user's and that address's lockout.

        Only the gateway (nginx, on loopback) may report, so its X-Real-IP is the client's address."""
        address, user = headers.get("x-real-ip", ""), headers.get("x-pacsguard-failed-user", "")
        if address and user:
            self.failures.record(f"{address} {user}")
            self.address_failures.record(address)

    def _authentication_failure(self, headers: dict[str, str], source_ip: str, method: str, uri: str, why: str) -> None:
        event_id, name, action = rbac.EVENTS["authentication"]
        self._record(
            event_id=event_id,
            event_name=name,
            action=action,
            outcome=rbac.OUTCOME_MINOR_FAILURE,
            user=identity.basic_user(headers),
            role=None,
            source_ip=source_ip,
            method=method,
            path=uri,
            reason=why,
        )

    def dicom_store(self, remote_aet: str, tags: dict) -> int:
        """Status for a received instance: 0 stores it, non-zero refuses it (no record, no store)."""
        event_id, name, action = rbac.EVENTS["upload"]
        ok = self._record(
            event_id=event_id,
            event_name=name,
            action=action,
            outcome=rbac.OUTCOME_SUCCESS,
            user=remote_aet,
            role="modality",
            source_ip=None,
            ae_title=remote_aet,
            study_uid=tags.get("StudyInstanceUID"),
            series_uid=tags.get("SeriesInstanceUID"),
            instance_uid=tags.get("SOPInstanceUID"),
            reason="C-STORE received",
            layer="orthanc-dicom",
        )
        return 0 if ok else STORE_REFUSED

    def _exported_studies(self, uri: str) -> dict:
        """The studies a file-releasing route hands out (DICOM Export, 110106), whatever the route's spelling."""
        studies: list[str] = []
        resource = rbac.exported_resource(uri)
        if resource and self.studies_of:
            studies = self.studies_of(*resource)
        elif uri.startswith("/wado") and "?" in uri:
            studies = parse_qs(uri.split("?", 1)[1]).get("studyUID", [])[:1]
        else:
            m = audit.DICOMWEB_UIDS.match(rbac.resolve(uri))
            studies = [m.group(1)] if m else []
        return {"study_uids": studies, "count": str(len(studies))} if studies else {}

    def audit_lines(self, limit: int = 1000) -> str:
        return "".join(self.log.tail(limit))

    def _record(self, layer: str = "orthanc-http", **fields: object) -> bool:
        try:
            self.log.write(audit.event(layer=layer, **fields))  # type: ignore[arg-type]
        except audit.AuditError:
            return False
        return True
