"""The summary PDF as a DICOM Encapsulated PDF: valid for dciodvfy, joins the source study, and DCMTK's
dcm2pdf gets back the very bytes we wrote."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pydicom  # noqa: E402
import pytest  # noqa: E402
from dicom_outputs import ALGORITHM, Example, check_algorithm_equipment, dciodvfy_messages, example  # noqa: E402
from pydicom.uid import EncapsulatedPDFStorage  # noqa: E402

import hccp53  # noqa: E402
from hccp53.dicomio.pdf import PDF_DESCRIPTION, encapsulated_pdf  # noqa: E402
from hccp53.dicomio.seg import source_datasets  # noqa: E402
from hccp53.errors import InputError  # noqa: E402


def one_page_pdf() -> bytes:
    figure = plt.figure(figsize=(2, 2))
    figure.text(0.5, 0.5, "P53 summary", ha="center")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf")
    plt.close(figure)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def written(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Example, bytes, Path]:
    case = example(cohort / "cases" / "SYN0001" / "dicom")
    pdf = one_page_pdf()
    path = tmp_path_factory.mktemp("pdf") / "report.dcm"
    encapsulated_pdf(pdf, case.study, case.stack, ALGORITHM).save_as(path)
    return case, pdf, path


def test_dciodvfy_finds_no_error_or_warning(written: tuple[Example, bytes, Path]) -> None:
    assert shutil.which("dciodvfy"), "dciodvfy is missing: run `make setup` (scripts/setup_system.sh)"
    result = subprocess.run(["dciodvfy", str(written[2])], capture_output=True, text=True, check=False)
    assert "EncapsulatedPDF" in result.stderr, result.stderr
    messages = dciodvfy_messages(result.stderr)  # all but the Device UID of the Contributing Equipment
    assert messages == [], messages


def test_it_joins_the_study_as_a_new_series(written: tuple[Example, bytes, Path]) -> None:
    case, _, path = written
    document = pydicom.dcmread(path)
    source = source_datasets(case.study, case.stack)[0]
    assert document.SOPClassUID == EncapsulatedPDFStorage == document.file_meta.MediaStorageSOPClassUID
    for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                    "AccessionNumber", "StudyID", "StudyDate", "StudyDescription"):  # fmt: skip
        assert document[keyword].value == source[keyword].value, keyword
    assert document.SeriesInstanceUID not in {stack.series_uid for stack in case.study.stacks}
    assert document.SeriesDescription == PDF_DESCRIPTION and document.Modality == "DOC"
    assert (document.Manufacturer, document.ManufacturerModelName, document.SoftwareVersions) == (
        ALGORITHM.manufacturer, ALGORITHM.name, ALGORITHM.version)  # fmt: skip
    assert document.BurnedInAnnotation == "YES" and document.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    assert [item.ReferencedSOPInstanceUID for item in document.SourceInstanceSequence] == [
        dataset.SOPInstanceUID for dataset in source_datasets(case.study, case.stack)]  # fmt: skip
    check_algorithm_equipment(document)


def test_dcm2pdf_gets_back_the_same_bytes(written: tuple[Example, bytes, Path], tmp_path: Path) -> None:
    _, pdf, path = written
    document = pydicom.dcmread(path)
    assert document.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert document.EncapsulatedDocumentLength == len(pdf)
    result = subprocess.run(["dcm2pdf", str(path), str(tmp_path / "back.pdf")], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "back.pdf").read_bytes().rstrip(b"\0") == pdf.rstrip(b"\0")


def test_bytes_that_are_not_a_pdf_are_refused(written: tuple[Example, bytes, Path]) -> None:
    case = written[0]
    with pytest.raises(InputError, match="not a PDF"):
        encapsulated_pdf(b"<html>", case.study, case.stack, ALGORITHM)


def test_the_app_writes_it_under_its_file_name_with_the_package_version(
    written: tuple[Example, bytes, Path], tmp_path: Path
) -> None:
    from hccp53.deploy import PDF_FILE, write_pdf

    case, pdf, _ = written
    assert write_pdf(tmp_path, pdf, case.study, case.stack, ALGORITHM) == tmp_path / PDF_FILE
    assert [p.name for p in tmp_path.iterdir()] == [PDF_FILE]
    assert pydicom.dcmread(tmp_path / PDF_FILE).SoftwareVersions == hccp53.__version__
