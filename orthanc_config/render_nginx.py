"""nginx in front of Orthanc: HTTPS only (TLS 1.2/1.3), strict headers, rate limits, no PHI in its logs."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from orthanc_config.files import RenderedFile
from orthanc_config.profile import HostProfile
from orthanc_config.viewer import VIEWER_PATH

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
# The viewer's page may load exactly what the OHIF build needs, from this origin only: its scripts and
# WebAssembly codecs ('wasm-unsafe-eval' compiles WebAssembly, it does not allow eval), its web workers,
# DICOMweb calls to this host, images it draws into (blob:/data:), and the inline styles its UI library sets.
VIEWER_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "img-src 'self' data: blob:",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "manifest-src 'self'",
        "base-uri 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
VIEWER_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": VIEWER_CSP,
    # Static, versioned files: the browser may keep them but must ask again (sign-in still applies).
    "Cache-Control": "private, no-cache",
}
HEALTH_PATH = "/healthz"
BODY_TIMEOUT_S = 15  # the longest pause between two reads of a request body
HEADER_TIMEOUT_S = 10
# Requests that name no user are limited by address, at a rate no reading session needs.
ANONYMOUS_RATE_PER_SECOND = 10
ANONYMOUS_BURST = 50
CONNECTIONS_PER_CLIENT = 64
# The access log records the path without its query string: QIDO queries carry patient names. The user is the
# Basic user or, behind the ALB, `oidc:<sub>` as the load balancer names it (the plugin verifies its signature and
# writes its own record of the decision).
ACCESS_LOG_FORMAT = (
    '{"time":"$time_iso8601","client":"$remote_addr","user":"$remote_user$pacsguard_token_user",'
    '"method":"$request_method",'
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
    viewer_root: str = ""  # holds viewer/ (the OHIF build); empty: no viewer on this host


def _headers(headers: dict[str, str], indent: str) -> str:
    return "\n".join(f'{indent}add_header {k} "{v}" always;' for k, v in headers.items())


def _viewer_locations(profile: HostProfile, paths: NginxPaths) -> str:
    if not paths.viewer_root:
        return ""
    upstream = f"http://127.0.0.1:{profile.orthanc_http_port}"
    return f"""
    # The OHIF viewer: static files, behind the same sign-in, for the roles the RBAC table lets "view".
    location = {VIEWER_PATH.rstrip("/")} {{ return 301 {VIEWER_PATH}; }}
    location {VIEWER_PATH} {{
      auth_request /pacsguard-viewer-access;
      root {paths.viewer_root};
      try_files $uri {VIEWER_PATH}index.html;
{_headers(VIEWER_HEADERS, "      ")}
    }}
    location = /pacsguard-viewer-access {{
      internal;
      proxy_pass {upstream}/pacsguard/viewer-access;
      proxy_method GET;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Authorization $pacsguard_authorization;
      proxy_set_header X-PACSGuard-Bearer $pacsguard_bearer;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header Connection "";
      proxy_http_version 1.1;
    }}
"""


def render_nginx(
    profile: HostProfile, paths: NginxPaths, gateway_password: str, listen: tuple[str, ...], dicom_stream: str = ""
) -> list[RenderedFile]:
    """The http block (HTTPS in front of Orthanc) and, when given, the DICOM edge's stream block."""
    gateway = base64.b64encode(f"pacsguard-gateway:{gateway_password}".encode()).decode()
    headers = _headers(SECURITY_HEADERS, "    ")
    listens = "\n".join(f"    listen {addr}:{profile.https_port} ssl;" for addr in listen)
    upstream = f"http://127.0.0.1:{profile.orthanc_http_port}"
    real_ip = _real_ip(profile)
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

{real_ip}
  # Rate limits follow the user, not the address: a reading room behind one NAT address is many users,
  # and one radiologist's viewer issues a request per image. A request that names no user is limited by
  # its address. Guessed passwords are limited apart: after repeated failed sign-ins the Orthanc plugin
  # refuses that user from that address (nginx reports each failure to it, see @pacsguard_auth_failed).
  map $http_x_amzn_oidc_data $pacsguard_token_user {{
    "" "";
    default "oidc:$http_x_amzn_oidc_identity";
  }}
  map "$remote_user$pacsguard_token_user" $pacsguard_user_key {{
    "" "";
    default "user:$remote_user$pacsguard_token_user";
  }}
  map $pacsguard_user_key $pacsguard_anonymous_key {{
    "" $binary_remote_addr;
    default "";
  }}
  map $pacsguard_user_key $pacsguard_client_key {{
    "" $remote_addr;
    default $pacsguard_user_key;
  }}
  limit_req_zone $pacsguard_user_key zone=pacsguard_user:10m rate={profile.rate_limit_per_second}r/s;
  limit_req_zone $pacsguard_anonymous_key zone=pacsguard_anonymous:10m rate={ANONYMOUS_RATE_PER_SECOND}r/s;
  limit_req_status 429;
  limit_conn_zone $pacsguard_client_key zone=pacsguard_conn:10m;
  limit_conn_status 429;

  # A request that carries the load balancer's signed identity goes to Orthanc as the gateway user;
  # the plugin then verifies the signature and takes the role from the token.
  # A machine client's `Authorization: Bearer <RS256 token>` goes the same way: the token travels in a header
  # only nginx sets (a client's own copy is replaced), and the plugin verifies it against the issuer's keys.
  map $http_authorization $pacsguard_bearer {{
    "~^[Bb]earer +([A-Za-z0-9._-]+)$" $1;
    default "";
  }}
  map "$http_x_amzn_oidc_data$pacsguard_bearer" $pacsguard_authorization {{
    "" $http_authorization;
    default "Basic {gateway}";
  }}

  # Kept-alive connections to Orthanc: a viewer's frames do not each pay a new TCP connection.
  upstream pacsguard_orthanc {{
    server 127.0.0.1:{profile.orthanc_http_port};
    keepalive 16;
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
    limit_req zone=pacsguard_user burst={profile.rate_limit_burst} nodelay;
    limit_req zone=pacsguard_anonymous burst={ANONYMOUS_BURST} nodelay;
    limit_conn pacsguard_conn {CONNECTIONS_PER_CLIENT};
    error_page 401 = @pacsguard_auth_failed;

    location = {HEALTH_PATH} {{
      access_log off;
      default_type text/plain;
      return 200 "ok\\n";
    }}

    # nginx's own questions to the plugin are not routes for the outside.
    location = /pacsguard/viewer-access {{ return 404; }}
    location = /pacsguard/auth-failure {{ return 404; }}

    # Every 401 (bad password, no credentials) is told to the plugin, which counts failures per user and
    # address and answers the 401 (or 403 while they are locked out, right password or not).
    location @pacsguard_auth_failed {{
      rewrite ^ /pacsguard/auth-failure? break;
      proxy_pass {upstream};
      proxy_method GET;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Authorization "Basic {gateway}";
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-PACSGuard-Failed-User $remote_user;
      proxy_set_header x-amzn-oidc-data "";
      proxy_set_header X-PACSGuard-Bearer "";  # only the main location hands a bearer token on
      proxy_hide_header WWW-Authenticate;  # the client already has Orthanc's challenge
      proxy_set_header Connection "";
      proxy_http_version 1.1;
    }}
{_viewer_locations(profile, paths)}
    location / {{
      # Compressed request bodies are refused: Orthanc would inflate them (gzip bombs, CVE-2026-5438).
      if ($http_content_encoding != "") {{ return 415; }}
      proxy_pass http://pacsguard_orthanc;
      proxy_http_version 1.1;
      proxy_intercept_errors on;
      # A CT frame (0.5 MB) stays in memory instead of a temporary file on its way to the viewer.
      proxy_buffers 32 32k;
      proxy_busy_buffers_size 256k;
      proxy_set_header Host $host;
      proxy_set_header Authorization $pacsguard_authorization;
      proxy_set_header X-PACSGuard-Bearer $pacsguard_bearer;
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


def _real_ip(profile: HostProfile) -> str:
    """Behind a load balancer, the client is the last X-Forwarded-For hop the load balancer subnets did not add."""
    if not profile.lb_cidrs:
        return ""
    trusted = "".join(f"  set_real_ip_from {c};\n" for c in profile.lb_cidrs)
    return f"{trusted}  real_ip_header X-Forwarded-For;\n  real_ip_recursive on;"
