"""``make viewer`` end to end: Orthanc with a study and the app's results, MONAI Label (OHIF) on it, headless Chromium.

The setup is :class:`scripts/viewer.py`'s ``ViewerSetup``: ``hccp53 synth`` (one small study), the app's SR, SEG
and PDF, all stored in a real Orthanc (DICOMweb plugin), and the MONAI Label app (``label/.venv``) with that
Orthanc as its DICOMweb datastore. MONAI Label's infer task on the PVP series must give the app's tumor mask;
a saved label must land in the ``hccp53 prepare`` layout; OHIF (driven by Playwright with Debian's
``/usr/bin/chromium``, no downloaded browser) must list the study, show the PVP series and the SEG over it, and
show the key-slice SR: the primary lesion outlined on its key slice with the P53 probability as text.
Screenshots go to ``VIEWER_SCREENSHOTS`` (default: the test's temporary folder); ``docs/images/viewer_seg.png``
is one of them. About 2-3 minutes on 2 shared cores, hence ``slow`` as well as ``viewer``.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

pytestmark = [pytest.mark.viewer, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright (requirements-dev.txt) is not installed")


def _viewer_module():
    spec = importlib.util.spec_from_file_location("viewer", ROOT / "scripts" / "viewer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


viewer = _viewer_module()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    try:
        viewer.ViewerSetup(tmp_path_factory.mktemp("viewer")).check()
    except RuntimeError as error:
        pytest.skip(str(error))
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup_system.sh installs Debian's chromium")
    with viewer.ViewerSetup(tmp_path_factory.mktemp("viewer")) as running:
        yield running


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("VIEWER_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pvp(setup) -> str:
    return setup.result["phases"]["pvp"]["series_instance_uid"]


def _app_mask(setup) -> sitk.Image:
    """The app's tumor mask: its DICOM SEG, read as ``hccp53 prepare`` reads a SEG."""
    from hccp53.data.prepare import _mask_image

    return _mask_image(setup.results_dir / "tumor_seg.dcm")


def _get(url: str) -> tuple[int, bytes]:
    """GET through MONAI Label's proxy, which passes Orthanc's gzip encoding on as it is."""
    status, body = viewer.http("GET", url)
    return status, gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


def test_monai_label_infer_on_the_pacs_study_gives_the_apps_mask(setup, tmp_path: Path) -> None:
    from hccp53.volumes.resample import resample_mask

    status, body = viewer.http("POST", f"{setup.url}/infer/segmentation?image={_pvp(setup)}&output=image", timeout=600)
    assert status == 200, body[:500]
    (tmp_path / "proposed.nii.gz").write_bytes(body)
    proposed = sitk.ReadImage(str(tmp_path / "proposed.nii.gz"))
    app = resample_mask(_app_mask(setup), proposed)  # the SEG's frames onto the series grid MONAI Label returns
    score = _dice(sitk.GetArrayFromImage(proposed), sitk.GetArrayFromImage(app))
    print(f"Dice of MONAI Label's mask against the app's SEG on the same study: {score:.4f}")
    assert sitk.GetArrayViewFromImage(app).sum() > 0
    assert score >= 0.99

    status, body = viewer.http("POST", f"{setup.url}/infer/segmentation?image=NO.SUCH.SERIES", timeout=60)
    assert status == 404 and "NO.SUCH.SERIES" in json.loads(body)["detail"]


def test_a_saved_label_is_prepared_for_training(setup, tmp_path: Path) -> None:
    from hccp53.data.datalist import segmentation_cases

    pvp = _pvp(setup)
    status, body = viewer.http("POST", f"{setup.url}/infer/segmentation?image={pvp}&output=image", timeout=600)
    assert status == 200, body[:500]
    boundary = uuid.uuid4().hex
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"label\"; filename=\"{pvp}.nii.gz\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    request = viewer.urllib.request.Request(f"{setup.url}/datastore/label?image={pvp}&tag=final", data=form,
                                            method="PUT")  # fmt: skip
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with viewer.urllib.request.urlopen(request, timeout=600) as response:
        assert response.status == 200
    (datalist,) = (setup.out / "cache").rglob("hccp53/prepared/datalist.json")
    cases = segmentation_cases(datalist, ("t2", "ap", "pvp"), "training")  # phases and mask on one grid, checked
    assert [c["case_id"] for c in cases] == [pvp]
    assert "label" not in json.loads(datalist.read_text())["training"][0]  # no P53 status from an annotator


def _seg_slice(setup) -> int:
    """InstanceNumber of the PVP image with the most tumor pixels in the app's SEG."""
    seg = pydicom.dcmread(setup.results_dir / "tumor_seg.dcm")
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    numbers = {}
    for path in setup.study_dir.rglob("*"):
        if path.is_file():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            numbers[ds.SOPInstanceUID] = int(ds.InstanceNumber)
    best = int(np.argmax(frames.reshape(len(frames), -1).sum(axis=1)))
    item = seg.PerFrameFunctionalGroupsSequence[best].DerivationImageSequence[0].SourceImageSequence[0]
    return numbers[item.ReferencedSOPInstanceUID]


def _key_slice(setup) -> int:
    """InstanceNumber of the image the key-slice SR outlines the lesion on."""
    sr = pydicom.dcmread(setup.results_dir / "p53_key_slice_sr.dcm")
    (uid,) = {item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for item in _items(sr) if item.ValueType == "IMAGE"
              and item.RelationshipType == "SELECTED FROM"}  # fmt: skip
    for path in setup.study_dir.rglob("*"):
        if path.is_file():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            if ds.SOPInstanceUID == uid:
                return int(ds.InstanceNumber)
    raise AssertionError(f"the key image {uid} is not in the study")


def _items(dataset) -> Iterator:
    """Every content item of an SR's tree."""
    for item in dataset.get("ContentSequence", []):
        yield item
        yield from _items(item)


def _red_pixels(path: Path) -> int:
    """Pixels of the SEG's (red) overlay colour in a screenshot: red well above green and blue."""
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int(((rgb[..., 0] > 120) & (rgb[..., 0] > rgb[..., 1] + 60) & (rgb[..., 0] > rgb[..., 2] + 60)).sum())


def test_ohif_shows_the_study_the_pvp_series_and_the_seg(setup, screenshots: Path) -> None:
    from playwright.sync_api import sync_playwright

    study = setup.result["study_instance_uid"]
    pvp = _pvp(setup)
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            responses = []
            page.on("response", lambda response: responses.append(response))
            # the study list
            page.goto(f"{setup.url}/ohif/", wait_until="networkidle", timeout=120_000)
            page.get_by_text("Confirm and Hide").click()
            page.get_by_text("DOC\\MR\\SEG\\SR").wait_for(timeout=60_000)
            page.screenshot(path=screenshots / "viewer_study_list.png")
            # the viewer with the PVP series
            page.goto(f"{setup.url}/ohif/viewer?StudyInstanceUIDs={study}&initialSeriesInstanceUID={pvp}",
                      wait_until="networkidle", timeout=120_000)  # fmt: skip
            page.get_by_text("hccp53 tumor segmentation (research use only)").wait_for(timeout=60_000)
            series_text = page.locator(".cornerstone-viewport-element").first
            series_text.wait_for(timeout=60_000)
            assert "V70" in page.inner_text("body")  # the PVP series' description in the viewport
            page.screenshot(path=screenshots / "viewer_pvp.png")
            before = _red_pixels(screenshots / "viewer_pvp.png")
            # the SEG over it, on the slice with the most tumor
            page.get_by_text("hccp53 tumor segmentation (research use only)").dblclick()
            page.get_by_role("button", name="Yes").click(timeout=60_000)
            time.sleep(3)
            target = _seg_slice(setup)
            series_text.hover()
            for _ in range(80):
                shown = re.search(r"I:\s*(\d+) \(", page.inner_text("body"))
                if shown and int(shown.group(1)) == target:
                    break
                page.mouse.wheel(0, 100 if not shown or int(shown.group(1)) < target else -100)
                time.sleep(0.3)
            time.sleep(2)
            page.screenshot(path=screenshots / "viewer_seg.png")
            after = _red_pixels(screenshots / "viewer_seg.png")
            print(f"SEG overlay: {after} red pixels on slice {target} (before: {before})")
            assert shown and int(shown.group(1)) == target
            assert after > before + 200
            # the key-slice SR: OHIF's SR viewport shows the lesion's outline on its key slice with the P53 text
            probability = f"Probability of TP53 mutation: {setup.result['p53_probability']:.2f}"
            page.get_by_text("hccp53 P53 key slice (r").first.dblclick()
            page.get_by_text(probability).first.wait_for(timeout=60_000)
            time.sleep(2)
            page.screenshot(path=screenshots / "viewer_key_slice_sr.png")
            shown = re.search(r"I:\s*(\d+) \(", page.inner_text("body"))
            print(f"key-slice SR: {probability!r} shown on image {shown and shown.group(1)}")
            assert shown and int(shown.group(1)) == _key_slice(setup)
            # the result SR (Comprehensive 3D SR): OHIF opens it, what it shows is recorded (docs/viewer.md)
            page.get_by_text("hccp53 P53 prediction (r").first.dblclick()
            time.sleep(5)
            page.screenshot(path=screenshots / "viewer_sr.png")
            # the PDF: OHIF fetches the document through its bulk data URI and shows it in Chromium's PDF viewer
            # (OHIF fetches it when it makes the study's display sets, so the responses are watched from the start)
            page.get_by_text("hccp53 P53 summary (r").first.dblclick()
            fetched = [r for r in responses if r.url.split("?")[0] == _pdf_bulk_uri(setup)]
            assert fetched and fetched[0].status == 200 and b"%PDF" in fetched[0].body()[:2000], \
                [r.url for r in responses]
            document = page.locator('object[type="application/pdf"]').first
            document.wait_for(timeout=60_000)
            assert (document.get_attribute("data") or "").startswith("blob:")
            time.sleep(5)
            assert not page.get_by_text("No online PDF viewer installed").is_visible()
            page.screenshot(path=screenshots / "viewer_pdf.png")
        finally:
            browser.close()
    print(f"browser part: {time.monotonic() - started:.0f} s; screenshots in {screenshots}")


def _pdf_bulk_uri(setup) -> str:
    """The encapsulated PDF's bulk data URI, as Orthanc writes it into the metadata read through the proxy."""
    study = setup.result["study_instance_uid"]
    status, body = _get(f"{setup.url}/proxy/dicom/qido/studies/{study}/series")  # the proxy drops query strings
    assert status == 200, body[:300]
    (series,) = [s for s in json.loads(body) if s["00080060"]["Value"] == ["DOC"]]
    uid = series["0020000E"]["Value"][0]
    status, body = _get(f"{setup.url}/proxy/dicom/wado/studies/{study}/series/{uid}/metadata")
    assert status == 200
    return json.loads(body)[0]["00420011"]["BulkDataURI"]


def test_the_pdf_is_served_through_the_proxy(setup) -> None:
    """The encapsulated PDF's bulk data URI, as Orthanc writes it into the metadata, is reachable in MONAI Label."""
    uri = _pdf_bulk_uri(setup)
    assert uri.startswith(setup.url + "/proxy/dicom/"), uri
    status, body = _get(uri)
    assert status == 200 and b"%PDF" in body[:2000]


def test_docs_screenshot_exists() -> None:
    """docs/deploy.md and docs/viewer.md show this test's screenshots."""
    assert (ROOT / "docs" / "images" / "viewer_seg.png").is_file()
    assert (ROOT / "docs" / "images" / "viewer_key_slice_sr.png").is_file()
    assert (ROOT / "docs" / "images" / "viewer_pdf.png").is_file()
