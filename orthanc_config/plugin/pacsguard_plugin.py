"""Orthanc glue for PACSGuard's RBAC and audit. Thin on purpose: the logic lives in pacsguard_guard.

Orthanc's own log lines (DICOM refusals) and nginx's DICOM connections reach the audit sink directly, never
through this process: a line the orthanc user could write must never become an audit event.

Loaded by orthanc-python 4.0 ("PythonScript"), under Debian's system Python.
"""

import json
import sys

import orthanc

_section = json.loads(orthanc.GetConfiguration()).get("PACSGuard", {})
sys.path.insert(0, _section.get("PluginDir", "/usr/share/pacsguard/plugin"))

import pacsguard_guard  # noqa: E402  (needs the plugin directory on sys.path first)

_METHODS = {}
for _name in ("GET", "POST", "PUT", "DELETE"):
    if hasattr(orthanc.HttpMethod, _name):
        _METHODS[getattr(orthanc.HttpMethod, _name)] = _name


def _studies_of(level, orthanc_id):
    """The StudyInstanceUIDs of an Orthanc resource, asked of Orthanc itself (no HTTP, no filter)."""
    try:
        if level == "patients":
            found = json.loads(orthanc.RestApiGet(f"/patients/{orthanc_id}/studies"))
        elif level == "studies":
            found = [json.loads(orthanc.RestApiGet(f"/studies/{orthanc_id}"))]
        else:
            found = [json.loads(orthanc.RestApiGet(f"/{level}/{orthanc_id}/study"))]
    except Exception:  # an unknown id: Orthanc answers 404 and releases nothing
        return []
    return [s["MainDicomTags"]["StudyInstanceUID"] for s in found if "StudyInstanceUID" in s.get("MainDicomTags", {})]


try:
    GUARD = pacsguard_guard.Guard(
        pacsguard_guard.GuardSettings.from_orthanc_configuration(orthanc.GetConfiguration()), _studies_of
    )
except Exception as exc:  # fail closed: without a guard every request is refused
    orthanc.LogError(f"PACSGuard: guard not started, refusing all requests: {exc}")
    GUARD = None


def _method(value):
    return _METHODS.get(value, str(value).rsplit(".", 1)[-1].upper())


def http_filter(uri, **request):
    if GUARD is None:
        return False
    try:
        return bool(GUARD.http(_method(request.get("method")), uri, request.get("ip") or "", _headers(request)))
    except Exception as exc:
        orthanc.LogError(f"PACSGuard: request refused after an error: {exc}")
        return False


# The C-STORE record names three UIDs. Orthanc's simplified JSON is the whole header, private blocks and every
# value included: for a scanner's CT slice 0.7-0.9 ms under the GIL, which every association waits for. The
# short form without private, unknown or binary attributes holds the UIDs for 0.3-0.4 ms (benchmarks.ingest_path,
# the "timed" variant with --header scanner).
RECORD_UIDS = {"StudyInstanceUID": "0020,000d", "SeriesInstanceUID": "0020,000e", "SOPInstanceUID": "0008,0018"}
PUBLIC_ONLY = 0  # no OrthancPluginDicomToJsonFlags: private, unknown and binary attributes left out


def record_uids(dicom):
    header = json.loads(dicom.GetInstanceAdvancedJson(orthanc.DicomToJsonFormat.SHORT, PUBLIC_ONLY, 0))
    return {name: header.get(tag) for name, tag in RECORD_UIDS.items()}


def cstore_filter(dicom):
    if GUARD is None:
        return pacsguard_guard.STORE_REFUSED
    try:
        return GUARD.dicom_store(dicom.GetInstanceRemoteAet(), record_uids(dicom))
    except Exception as exc:
        orthanc.LogError(f"PACSGuard: C-STORE refused after an error: {exc}")
        return pacsguard_guard.STORE_REFUSED


def audit_endpoint(output, uri, **request):
    if _method(request.get("method")) != "GET":
        output.SendMethodNotAllowed("GET")
        return
    output.AnswerBuffer(GUARD.audit_lines() if GUARD else "", "application/x-ndjson")


def _headers(request):
    return {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}


def viewer_access(output, uri, **request):
    # Reached only when the filter allowed it: the caller's role may open the viewer.
    output.AnswerBuffer("ok", "text/plain")


def auth_failure(output, uri, **request):
    # nginx's report of a 401 (the filter let only its gateway through): count it, answer the 401 the client gets.
    if GUARD is not None:
        GUARD.sign_in_failed(_headers(request))  # REST callbacks get no client address: nginx's header has it
    output.SendUnauthorized("PACSGuard")


orthanc.RegisterIncomingHttpRequestFilter(http_filter)
orthanc.RegisterIncomingCStoreInstanceFilter(cstore_filter)
orthanc.RegisterRestCallback("/pacsguard/audit", audit_endpoint)
orthanc.RegisterRestCallback("/pacsguard/viewer-access", viewer_access)
orthanc.RegisterRestCallback("/pacsguard/auth-failure", auth_failure)
orthanc.LogWarning("PACSGuard: RBAC and audit plugin active")
