"""Where every file of a PACS host lives, derived from the profile in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orthanc_config.profile import HostProfile


@dataclass(frozen=True)
class HostLayout:
    profile: HostProfile

    @property
    def config_dir(self) -> Path:
        return Path(self.profile.config_dir)

    @property
    def host_config_dir(self) -> Path:
        """The folder above the PKI (/etc/pacsguard on EC2): the profile, the RDS CA bundle, the JWT key."""
        return self.pki.parent

    @property
    def pki(self) -> Path:
        return Path(self.profile.pki_dir)

    @property
    def state(self) -> Path:
        return Path(self.profile.state_dir)

    @property
    def secrets_dir(self) -> Path:
        return self.state / "secrets"

    @property
    def plugin_dir(self) -> Path:
        return self.state / "plugin"

    @property
    def nginx_dir(self) -> Path:
        return self.state / "nginx"

    @property
    def nginx_temp(self) -> Path:
        return self.state / "nginx-temp"

    @property
    def web_root(self) -> Path:
        """nginx's document root: the viewer is its viewer/ folder, so the URL path and the folder agree."""
        return self.state / "web"

    @property
    def viewer_dir(self) -> Path:
        return self.web_root / "viewer"

    @property
    def library_dir(self) -> Path:
        """Libraries only Orthanc loads (http_stack.py: civetweb with stacks deep enough for GDCM)."""
        return self.state / "lib"

    @property
    def log_dir(self) -> Path:
        return Path(self.profile.log_dir)

    @property
    def storage(self) -> Path:
        return Path(self.profile.storage_dir)

    @property
    def nft_file(self) -> Path:
        return self.state / "firewall.nft"

    @property
    def ca(self) -> tuple[Path, Path]:
        return self.pki / "ca.crt", self.pki / "ca.key"

    @property
    def server(self) -> tuple[Path, Path]:
        return self.pki / "server.crt", self.pki / "server.key"

    @property
    def server_rsa(self) -> tuple[Path, Path]:
        """For TLS 1.2 modalities that offer only RSA suites; served beside the ECDSA one."""
        return self.pki / "server-rsa.crt", self.pki / "server-rsa.key"

    @property
    def relay_client(self) -> tuple[Path, Path]:
        """The PACS's client certificate when nginx carries Orthanc's C-MOVE/C-STORE to a TLS peer."""
        return self.pki / "pacs-client.crt", self.pki / "pacs-client.key"

    @property
    def crl(self) -> Path:
        return self.pki / "crl.pem"

    @property
    def database_tls_dir(self) -> Path:
        """Apart from pki/: the postgres user must read its key but nothing of Orthanc's."""
        return self.state / "postgres-tls"

    @property
    def database_tls(self) -> tuple[Path, Path]:
        return self.database_tls_dir / "postgres.crt", self.database_tls_dir / "postgres.key"

    @property
    def database_data(self) -> Path:
        return self.state / "postgres"

    @property
    def modality_dir(self) -> Path:
        return self.pki / "modalities"

    @property
    def probe_dir(self) -> Path:
        """Certificates `pacsguard verify` probes with (a revoked one); root only."""
        return self.pki / "probes"

    @property
    def jwt_private_key(self) -> Path:
        return self.secrets_dir / "jwt-signing.key"

    @property
    def jwt_public_key(self) -> Path:
        return Path(self.profile.jwt_public_key_file)

    @property
    def machine_issuer_key(self) -> Path:
        """Local mode only: the RS256 key that signs machine clients' tokens (Cognito's role on AWS)."""
        return self.secrets_dir / "machine-issuer.key"

    @property
    def machine_jwks_file(self) -> Path:
        return self.state / "machine-jwks.json"

    @property
    def break_glass_window(self) -> Path:
        """Present only while an emergency access window is open (written by root, read by the plugin)."""
        return self.state / "break-glass-window.json"

    @property
    def break_glass_credential(self) -> Path:
        """The sealed emergency credential: root only, apart from the everyday credentials file."""
        return self.secrets_dir / "break-glass.json"

    @property
    def alarm_log(self) -> Path:
        """Local stand-in for the stack's alarm topic: emergency access and its opening and closing."""
        return self.log_dir / "alarms.jsonl"

    @property
    def credentials_file(self) -> Path:
        """The operator's credentials: every user's password and role. Root only."""
        return self.secrets_dir / "credentials.json"

    @property
    def orthanc_log(self) -> Path:
        """Orthanc's own output, as the audit sink received it from the Orthanc process (root-owned)."""
        return self.log_dir / "orthanc.log"

    @property
    def audit_log(self) -> Path:
        """The hash-chained audit trail; only the audit sink (root) writes it."""
        return Path(self.profile.audit_log)

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    @property
    def audit_socket(self) -> Path:
        """The sink's datagram socket: the plugin and nginx send their records here."""
        return self.run_dir / "audit.sock"

    @property
    def orthanc_output_socket(self) -> Path:
        """Root only: the launcher connects Orthanc's stdout and stderr here before Orthanc starts."""
        return self.run_dir / "orthanc-output.sock"

    @property
    def audit_sink_config(self) -> Path:
        """Not in the config dir: Orthanc merges every *.json there."""
        return self.state / "audit-sink.json"
