"""nginx in front of Orthanc: HTTPS only (TLS 1.2/1.3), strict headers, rate limits, no PHI in its logs."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from orthanc_config.files import RenderedFile
from orthanc_config.profile import HostProfile

NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"  # Debian's libnginx-mod-stream


def syslog_target(audit_socket: str, tag: str) -> str:
    """nginx's syslog output to the audit sink's datagram socket (the sink knows nginx by its uid)."""
    return f"syslog:server=unix:{audit_socket},facility=local7,tag={tag},nohostname"


# TLS 1.2 suites of the HTTPS port and the DICOM edge: forward secrecy (ECDHE) and AEAD only (BCP 195, Mozilla
# intermediate). TLS 1.3 suites are all AEAD.
CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HEALTH_PATH = "/healthz"
BODY_TIMEOUT_S = 15  # the longest pause between two reads of a request body
HEADER_TIMEOUT_S = 10
# The access log records the path without its query string: QIDO queries carry patient names.
ACCESS_LOG_FORMAT = (
    '{"time":"$time_iso8601","client":"$remote_addr","user":"$remote_user","method":"$request_method",'
    '"path":"$uri","status":$status,"bytes":$body_bytes_sent,"duration":$request_time}'
)
# Failed authentications never reach the Orthanc plugin (the core answers 401 first): nginx writes them
# as ATNA "user authentication" (110114) events with a failure outcome.
AUTH_FAILURE_FORMAT = (
    '{"time":"$time_iso8601","event_id":"110114","event":"User Authentication","outcome":"4",'
    '"user":"$remote_user","source_ip":"$remote_addr","method":"$request_method","path":"$uri",'
    '"http_status":$status,"layer":"nginx"}'
)


@dataclass(frozen=True)
class NginxPaths:
    conf_dir: str
    server_cert: str
    server_key: str
    pid_file: str
    log_dir: str
    temp_dir: str
    audit_socket: str = ""  # the audit sink: every request's line goes there too


def render_nginx(
    profile: HostProfile, paths: NginxPaths, gateway_password: str, listen: tuple[str, ...], dicom_stream: str = ""
) -> list[RenderedFile]:
    """The http block (HTTPS in front of Orthanc) and, when given, the DICOM edge's stream block."""
    gateway = base64.b64encode(f"pacsguard-gateway:{gateway_password}".encode()).decode()
    headers = "\n".join(f'    add_header {k} "{v}" always;' for k, v in SECURITY_HEADERS.items())
    listens = "\n".join(f"    listen {addr}:{profile.https_port} ssl;" for addr in listen)
    conf = f"""# Rendered by PACSGuard from the host profile; edits are overwritten by the next bootstrap.
user www-data;
worker_processes auto;
pid {paths.pid_file};
error_log {paths.log_dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}

http {{
  server_tokens off;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  client_body_temp_path {paths.temp_dir}/body;
  proxy_temp_path {paths.temp_dir}/proxy;
  fastcgi_temp_path {paths.temp_dir}/fastcgi;
  uwsgi_temp_path {paths.temp_dir}/uwsgi;
  scgi_temp_path {paths.temp_dir}/scgi;

  log_format pacsguard escape=json '{ACCESS_LOG_FORMAT}';
  log_format pacsguard_auth escape=json '{AUTH_FAILURE_FORMAT}';
  map $status $pacsguard_auth_failed {{ 401 1; default 0; }}
  access_log {paths.log_dir}/nginx-access.jsonl pacsguard;
  access_log {paths.log_dir}/auth-failures.jsonl pacsguard_auth if=$pacsguard_auth_failed;
{f"  access_log {syslog_target(paths.audit_socket, 'pacsguard_http')} pacsguard;" if paths.audit_socket else ""}

  limit_req_zone $binary_remote_addr zone=pacsguard:10m rate={profile.rate_limit_per_second}r/s;
  limit_req_status 429;
  limit_conn_zone $binary_remote_addr zone=pacsguard_conn:10m;

  # A request that carries the load balancer's signed identity goes to Orthanc as the gateway user;
  # the plugin then verifies the signature and takes the role from the token.
  map $http_x_amzn_oidc_data $pacsguard_authorization {{
    "" $http_authorization;
    default "Basic {gateway}";
  }}

  server {{
{listens}
    server_name {" ".join(profile.server_names)};
    ssl_certificate {paths.server_cert};
    ssl_certificate_key {paths.server_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {CIPHERS};
    ssl_ecdh_curve X25519:prime256v1:secp384r1;  # Mozilla intermediate (sslyze flags X448 and secp521r1)
    ssl_prefer_server_ciphers off;
    ssl_session_tickets off;
    ssl_session_cache shared:pacsguard_tls:10m;

{headers}

    client_max_body_size {profile.max_body_mb}m;
    # A slow client holds only nginx: bodies are read whole (to a temp file past 1 MB) before Orthanc sees
    # the request, and a client that stalls on its headers or body is dropped.
    client_body_buffer_size 1m;
    client_body_timeout {BODY_TIMEOUT_S}s;
    client_header_timeout {HEADER_TIMEOUT_S}s;
    limit_req zone=pacsguard burst={profile.rate_limit_per_second * 4} nodelay;
    limit_conn pacsguard_conn 32;

    location = {HEALTH_PATH} {{
      access_log off;
      default_type text/plain;
      return 200 "ok\\n";
    }}

    location / {{
      # Compressed request bodies are refused: Orthanc would inflate them (gzip bombs, CVE-2026-5438).
      if ($http_content_encoding != "") {{ return 415; }}
      proxy_pass http://127.0.0.1:{profile.orthanc_http_port};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Authorization $pacsguard_authorization;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header Connection "";
      proxy_request_buffering on;
      proxy_read_timeout 300s;
      proxy_hide_header X-Powered-By;
    }}
  }}
}}
"""
    if dicom_stream:
        conf = f"load_module {NGINX_STREAM_MODULE};\n{conf}{dicom_stream}"
    return [RenderedFile(str(Path(paths.conf_dir) / "nginx.conf"), conf, 0o600, "root", "root", secret=True)]
