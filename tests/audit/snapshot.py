"""A copy of an in-process moto server's whole state, put back in ~2 s where building the fixture account over its
HTTP API takes ~30 s: the audit tests start from the same account without paying for it each time.

moto keeps every service's state in module-level BackendDicts (account -> region -> backend). The snapshot pickles
their contents (and their own attributes: S3 keeps its global bucket-name -> account map there) once; each restore
unpickles a fresh, private copy, so no test sees another's changes. The BackendDicts themselves stay in place
(moto's code and its reset hold them), and the few objects pickle cannot take (cryptography's keys and
certificates, Rust objects) travel as PEM."""

from __future__ import annotations

import io
import pickle
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from moto.core.base_backend import BackendDict

_PRIVATE_KEY_TYPES = PrivateKeyTypes.__args__  # type: ignore[attr-defined]


def _private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, None)


def _certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


class _Pickler(pickle.Pickler):
    def __init__(self, buf: io.BytesIO, dicts: list[BackendDict]) -> None:
        super().__init__(buf, protocol=pickle.HIGHEST_PROTOCOL)
        self._index = {id(d): i for i, d in enumerate(dicts)}

    def persistent_id(self, obj: Any) -> int | None:
        # A backend that holds its service's BackendDict must get the live one back, not a detached copy.
        return self._index.get(id(obj)) if isinstance(obj, BackendDict) else None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _PRIVATE_KEY_TYPES):
            pem = obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _private_key, (pem,)
        if isinstance(obj, x509.Certificate):
            return _certificate, (obj.public_bytes(serialization.Encoding.PEM),)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, buf: io.BytesIO, dicts: list[BackendDict]) -> None:
        super().__init__(buf)
        self._dicts = dicts

    def persistent_load(self, pid: Any) -> BackendDict:
        return self._dicts[pid]


def drop_state() -> None:
    """What POST /moto-api/reset leaves, without its cost: moto's reset first re-creates every backend (IAM's
    ~1,300 AWS-managed policies parsed again, ~2 s of CPU) and then drops them all. Dropping is what matters; the
    next request creates fresh backends, as after moto's own reset. Only for a moto server in this process."""
    from moto.core.model_instances import reset_model_data
    from moto.s3.models import s3_backends

    for backend_dict in BackendDict._instances:  # type: ignore[misc]
        backend_dict.clear()
    BackendDict._instances.clear()  # type: ignore[misc]
    s3_backends.bucket_accounts.clear()  # bucket names are global: moto's reset frees them too
    reset_model_data()


class MotoSnapshot:
    """Everything the in-process moto backends hold now (take it right after building the account)."""

    def __init__(self) -> None:
        self._dicts: list[BackendDict] = list(BackendDict._instances)  # type: ignore[misc]
        buf = io.BytesIO()
        _Pickler(buf, self._dicts).dump([(dict(d), vars(d)) for d in self._dicts])
        self._blob = buf.getvalue()

    def restore(self) -> None:
        """Make moto hold exactly the snapshot's state again, and nothing else (whatever an earlier test or another
        suite's in-process moto server left is dropped, as moto's reset drops it)."""
        contents = _Unpickler(io.BytesIO(self._blob), self._dicts).load()
        drop_state()
        for backend_dict, (accounts, attributes) in zip(self._dicts, contents, strict=True):
            backend_dict.update(accounts)
            vars(backend_dict).update(attributes)
            BackendDict._instances.append(backend_dict)  # type: ignore[misc]
