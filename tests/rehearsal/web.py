"""AWS's public HTTPS endpoints for a rehearsal (the RDS trust store): static files over TLS, standard library.

python3 web.py ADDRESS PORT DOCROOT CERT KEY
"""

from __future__ import annotations

import functools
import http.server
import ssl
import sys

from imds import NoLookupServer


def main(address: str, port: str, docroot: str, cert: str, key: str) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=docroot)
    server = NoLookupServer((address, int(port)), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
