"""The viewer in a real browser (Debian's Chromium, headless): a radiologist opens the study list, then a CT series,
and the viewport draws the image under the viewer's CSP; a role without read rights is refused."""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.host.reading import ct_series, dicomweb, own_ca_bundle

pytestmark = pytest.mark.host

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,900")  # fmt: skip
SLICES = 12
# Counting drawn pixels in the page: cornerstone draws each viewport into a 2D canvas.
DRAWN_PIXELS = """
let most = 0;
for (const canvas of document.querySelectorAll('canvas.cornerstone-canvas')) {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0;
  for (let i = 0; i < data.length; i += 4) { if (data[i] || data[i + 1] || data[i + 2]) lit++; }
  most = Math.max(most, lit / (canvas.width * canvas.height));
}
return most;
"""


def _missing() -> str | None:
    packages = (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER))
    absent = [f"Debian package {pkg} ({path})" for pkg, path in packages if not path.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        absent.append("selenium (the test extra of pyproject.toml)")
    return f"needs {', '.join(absent)}: run make setup" if absent else None


@pytest.fixture(scope="module")
def patient(stack: dict) -> Iterator[tuple[str, str, str]]:
    """A CT series uploaded by the technologist (STOW-RS): its patient as the study list shows it, the study's UID
    and the patient ID (the study list's MRN filter finds it among every other test's studies)."""
    series = ct_series(SLICES)
    tag = series[0].PatientID.rsplit("-", 1)[1]
    for ds in series:
        ds.PatientName = f"VIEWER^T{tag}"
    with own_ca_bundle():
        dicomweb(stack, "technologist1").store_instances(series)
    yield f"VIEWER, T{tag}", series[0].StudyInstanceUID, series[0].PatientID


def _server_key_pin(stack: dict) -> str:
    """Chromium trusts exactly the stack's server key (its private CA is not in the machine's store)."""
    cert = x509.load_pem_x509_certificate((Path(stack["pki_dir"]) / "server.crt").read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture
def browser(stack: dict) -> Iterator:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pacsguard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--ignore-certificate-errors-spki-list={_server_key_pin(stack)}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _sign_in(driver, stack: dict, user: str) -> None:
    """What the sign-in prompt does: credentials once (here in the URL), then the browser answers the realm's
    challenges itself. The page is then opened again at its plain URL, as a user sees it."""
    host = stack["viewer_url"].split("//", 1)[1]
    driver.get(f"https://{user}:{stack['_users'][user]['password']}@{host}")
    driver.get(stack["viewer_url"])


def _csp_violations(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_a_radiologist_opens_the_study_list_then_a_ct_series_and_sees_it_drawn(
    stack: dict, patient: tuple[str, str, str], browser
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as when
    from selenium.webdriver.support.ui import WebDriverWait

    name, study_uid, patient_id = patient
    _sign_in(browser, stack, "radiologist1")
    browser.get(f"{stack['viewer_url']}?mrn={patient_id}")  # the study list, searched by MRN as a user would
    wait = WebDriverWait(browser, 90)
    row = wait.until(when.element_to_be_clickable((By.XPATH, f"//*[text()='{name}']")))  # the study list
    row.click()
    wait.until(when.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Basic Viewer']"))).click()
    wait.until(lambda d: f"StudyInstanceUIDs={study_uid}" in d.current_url)
    wait.until(lambda d: d.execute_script(DRAWN_PIXELS) > 0.05)  # the CT slice is on screen, not a blank viewport
    assert _csp_violations(browser) == []


def test_a_role_without_read_rights_sees_a_refusal(stack: dict, patient: tuple[str, str, str], browser) -> None:
    _sign_in(browser, stack, "auditor1")
    assert "403" in browser.title + browser.find_element("tag name", "body").text
    assert "OHIF" not in browser.page_source
