"""The records of a trained-model folder: what each network is, what it eats, and which weights it has.

A trained-model folder (``hccp53 train`` output, ``models/``) holds, per network, its weights, their sha256 in
``checksums.json`` and one self-describing JSON record beside them:

=====================  ========================  =====================================================
network                weights                   record
=====================  ========================  =====================================================
P53 classifier         ``p53_classifier.pt``     ``network.json``: backbone, fusion, dropout, phases
                                                 (input order), crop spacing and size, mask channel,
                                                 2.5D slices, ensemble, calibration, threshold
tumor segmentation     ``tumor_segmentation.pt`` ``segmentation.json``: ``network`` (a
                                                 ``monai.networks.nets`` name) and ``network_args`` (its
                                                 constructor's arguments), phases, spacing, patch size,
                                                 reference phase
=====================  ========================  =====================================================

Every record also carries what :func:`finish_record` adds when training publishes the weights: the
preprocessing (:func:`normalisation`), the output classes, the training datalist's sha256 and split, the
validation figures, the weights' sha256, a DICOM UID derived from it (:func:`weights_uid`: it changes exactly
when the weights do) and the hccp53 / MONAI / torch versions. :func:`read_model` reads both records of a
folder into a :class:`ModelRecord`; :func:`hccp53.model.load_model` builds the networks from it. Nothing else
in the project says what the networks are.

A folder published before the records existed (bundle 0.3 and older: no ``segmentation.json``) is upgraded once with
``python -m hccp53.model upgrade FOLDER`` (:func:`upgrade_folder`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hccp53 import PHASES
from hccp53.checksums import CHECKSUMS, record_checksums, sha256_of
from hccp53.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

CLASSIFIER_WEIGHTS = "p53_classifier.pt"
CLASSIFIER_RECORD = "network.json"
SEGMENTATION_WEIGHTS = "tumor_segmentation.pt"
SEGMENTATION_RECORD = "segmentation.json"

#: Keys of the classifier's record that name its network and input (the training config's values).
NETWORK_KEYS = ("backbone", "fusion", "shared_encoder", "dropout", "phases", "crop_spacing_mm", "crop_size")
#: Keys the classifier's record may leave out (older trained folders), with the value they then take.
OPTIONAL_NETWORK_KEYS = {"mask_channel": False, "slices": None, "ensemble": None, "bounded_members": False}
#: Keys of the segmentation record that name its network and input.
SEGMENTATION_KEYS = ("network", "network_args", "phases", "spacing_mm", "patch_size", "reference_phase")

CLASSIFIER_CLASSES = ("wild-type", "mutated")
SEGMENTATION_CLASSES = ("background", "tumor")


def weights_uid(*sha256: str) -> str:
    """A DICOM UID (``2.25.<decimal>``, PS3.5 B.2) derived from weights' sha256: stable, new when they change."""
    digest = hashlib.sha256("".join(sha256).encode("ascii")).hexdigest()
    return f"2.25.{int(digest[:32], 16)}"


def normalisation() -> dict[str, Any]:
    """The per-phase preprocessing every network of the project is trained and run with (:mod:`hccp53.transforms`),
    recorded so that a reader of the folder need not read the code."""
    from hccp53.transforms import PERCENTILES

    return {"orientation": "RAS", "intensity": "each phase scaled so that its percentiles "
            f"{PERCENTILES[0]:g} and {PERCENTILES[1]:g} map to 0 and 1", "percentiles": list(PERCENTILES)}


def versions() -> dict[str, str]:
    """The hccp53, MONAI and torch versions a record is written with."""
    import monai
    import torch

    import hccp53

    return {"hccp53": hccp53.__version__, "monai": monai.__version__, "torch": torch.__version__}


def training_summary(datalist: str | Path, fold: int, train_ids: Sequence[str], val_ids: Sequence[str]
                     ) -> dict[str, Any]:  # fmt: skip
    """What a record says of the data a network was trained on: the datalist's sha256 and the split."""
    def ids_sha256(ids: Sequence[str]) -> str:
        return hashlib.sha256("\n".join(sorted(str(i) for i in ids)).encode("utf-8")).hexdigest()

    return {"datalist": Path(datalist).name, "datalist_sha256": sha256_of(datalist), "fold": int(fold),
            "train_cases": len(train_ids), "val_cases": len(val_ids), "train_ids_sha256": ids_sha256(train_ids),
            "val_ids_sha256": ids_sha256(val_ids)}  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def read_json(path: Path) -> dict[str, Any]:
    """A record's content, or :class:`ConfigError` naming the file."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is not readable JSON ({error}); restore it from the trained-model folder.") \
            from None
    if not isinstance(content, dict):
        raise ConfigError(f"{path} must hold a JSON object, not {type(content).__name__}.")
    return content


def write_record(folder: str | Path, record_name: str, values: Mapping[str, Any]) -> Path:
    """Merge ``values`` into the record ``folder/record_name`` (created when missing), atomically."""
    path = Path(folder) / record_name
    content = read_json(path) if path.is_file() else {}
    content.update(_plain(dict(values)))
    _replace_json(path, content)
    return path


def _replace_json(path: Path, content: Mapping[str, Any]) -> None:
    """Write ``content`` to ``path`` atomically (a temporary file renamed over it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


#: Record keys set for one set of weights after training (``python -m hccp53.model lesion-floor``): dropped when
#: :func:`finish_record` publishes other weights into the same folder.
WEIGHTS_BOUND_KEYS = ("min_lesion_confidence", "min_lesion_confidence_evidence")


def finish_record(folder: str | Path, weights_name: str, record_name: str, values: Mapping[str, Any]) -> Path:
    """Complete a network's record once its weights are final: ``values`` plus what every record carries.

    Adds the normalisation, the output classes, the weights' sha256 and UID and the library versions. Call it
    after the last write of the weights (calibration included), so that the recorded sha256 is theirs.
    """
    folder = Path(folder)
    sha = sha256_of(folder / weights_name)
    path = folder / record_name
    if path.is_file():  # what belonged to earlier weights (the lesion-confidence floor) does not carry over
        earlier = read_json(path)
        if earlier.get("weights_sha256") not in (None, sha) and any(k in earlier for k in WEIGHTS_BOUND_KEYS):
            _replace_json(path, {k: v for k, v in earlier.items() if k not in WEIGHTS_BOUND_KEYS})
    classes = CLASSIFIER_CLASSES if weights_name == CLASSIFIER_WEIGHTS else \
        tuple(values.get("output_classes") or SEGMENTATION_CLASSES)
    return write_record(folder, record_name, {**values, "normalisation": normalisation(), "output_classes": classes,
                                              "weights_sha256": sha, "uid": weights_uid(sha),
                                              "versions": versions()})  # fmt: skip


@dataclass(frozen=True)
class ModelRecord:
    """Both records of a trained-model folder (see the module docstring).

    Attributes
    ----------
    folder
        The trained-model folder.
    classifier, segmentation
        The content of ``network.json`` and ``segmentation.json``.
    uid
        The model's UID: derived from both weights' sha256, it changes whenever either does (the SR's and
        SEG's algorithm identification use it).
    """

    folder: Path
    classifier: Mapping[str, Any]
    segmentation: Mapping[str, Any]
    uid: str

    @property
    def classifier_phases(self) -> tuple[str, ...]:
        return tuple(self.classifier["phases"])

    @property
    def segmentation_phases(self) -> tuple[str, ...]:
        return tuple(self.segmentation["phases"])

    @property
    def segmentation_classes(self) -> tuple[str, ...]:
        """The segmentation network's output classes (tumor last; a liver output when ``liver`` is among them)."""
        return tuple(self.segmentation.get("output_classes", SEGMENTATION_CLASSES))

    @property
    def min_lesion_confidence(self) -> float:
        """Mean tumor probability below which a lesion other than the most confident is dropped (0: none is);
        set on studies of the network's training look (``python -m hccp53.model lesion-floor``)."""
        return float(self.segmentation.get("min_lesion_confidence", 0.0))

    @property
    def reference_phase(self) -> str:
        """The phase whose voxel grid the other phases are resampled onto (that of the training volumes)."""
        return str(self.segmentation["reference_phase"])

    @property
    def phases(self) -> tuple[str, ...]:
        """Every phase a study must have: the networks' inputs and the reference phase, in :data:`PHASES` order."""
        needed = {*self.segmentation_phases, *self.classifier_phases, self.reference_phase}
        return tuple(p for p in PHASES if p in needed)

    @property
    def threshold(self) -> float:
        """P53 probability at or above which the status is "mutated"."""
        return float(self.classifier["threshold"]["value"])

    @property
    def mask_channel(self) -> bool:
        return bool(self.classifier.get("mask_channel", OPTIONAL_NETWORK_KEYS["mask_channel"]))

    @property
    def sha256(self) -> dict[str, str]:
        """Weights file name -> sha256, as recorded."""
        return {CLASSIFIER_WEIGHTS: self.classifier["weights_sha256"],
                SEGMENTATION_WEIGHTS: self.segmentation["weights_sha256"]}  # fmt: skip


def _check_keys(path: Path, record: Mapping[str, Any], keys: Iterable[str]) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}; publish the folder again with `hccp53 train` or run "
                          f"`python -m hccp53.model upgrade {path.parent}`.")  # fmt: skip
    unknown = [p for p in record["phases"] if p not in PHASES]
    if unknown or not record["phases"]:
        raise ConfigError(f"{path} names the phases {record['phases']}; each must be one of {', '.join(PHASES)}.")


def _checked_sha(folder: Path, record_name: str, record: Mapping[str, Any], weights_name: str,
                 checksums: Mapping[str, str]) -> None:  # fmt: skip
    recorded = record.get("weights_sha256")
    if recorded is None:
        raise ConfigError(f"{folder / record_name} does not record its weights' sha256 (a folder made before "
                          f"the records existed); run `python -m hccp53.model upgrade {folder}` once.")  # fmt: skip
    if checksums.get(weights_name) != recorded:
        raise ConfigError(f"{folder / record_name} describes weights with sha256 {recorded[:12]}... but "
                          f"{CHECKSUMS} lists {str(checksums.get(weights_name))[:12]}... for {weights_name}; the "
                          "record is not of these weights: publish the folder again.")  # fmt: skip


def read_classifier_record(folder: str | Path) -> dict[str, Any]:
    """The classifier's record of a folder (no weights are read)."""
    folder = Path(folder)
    if not (folder / CLASSIFIER_WEIGHTS).is_file():
        raise InputError(f"{folder} has no {CLASSIFIER_WEIGHTS}; point at a trained-model folder (`hccp53 train "
                         "classifier --out DIR`, or models/).")  # fmt: skip
    path = folder / CLASSIFIER_RECORD
    if not path.is_file():
        raise InputError(f"{folder} has no {CLASSIFIER_RECORD} describing the classifier; publish it again with "
                         "`hccp53 train classifier`.")  # fmt: skip
    record = read_json(path)
    _check_keys(path, record, NETWORK_KEYS)
    return record


def model_folder(folder: str | Path) -> Path:
    """The trained-model folder at ``folder``, or in its one subfolder that holds the weights.

    A MAP packaged with ``-m models`` puts the folder at ``/opt/holoscan/models/models`` while its
    ``HOLOSCAN_MODEL_PATH`` names ``/opt/holoscan/models`` (the SDK keeps each model in a subfolder of its own).

    Raises
    ------
    InputError
        ``folder`` does not exist, or holds no weights and not exactly one subfolder with them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"The models folder {folder} does not exist; point at a trained-model folder (models/).")
    if (folder / CLASSIFIER_WEIGHTS).is_file() or (folder / SEGMENTATION_WEIGHTS).is_file():
        return folder
    inside = sorted(sub for sub in folder.iterdir() if sub.is_dir() and (sub / CLASSIFIER_WEIGHTS).is_file())
    if len(inside) == 1:
        return inside[0]
    if inside:
        raise InputError(f"The models folder {folder} holds {len(inside)} trained-model folders "
                         f"({', '.join(sub.name for sub in inside)}); point at one of them.")  # fmt: skip
    return folder  # the caller names the missing weights


def read_model(folder: str | Path) -> ModelRecord:
    """Both records of a trained-model folder, checked against its ``checksums.json`` (weights are not read).

    Raises
    ------
    InputError
        The folder lacks a weights file or a record.
    ConfigError
        A record is unreadable, lacks a key, names an unknown phase or describes other weights than the
        folder's.
    """
    folder = model_folder(folder)
    classifier = read_classifier_record(folder)
    path = folder / SEGMENTATION_RECORD
    if not (folder / SEGMENTATION_WEIGHTS).is_file():
        raise InputError(f"{folder} has no {SEGMENTATION_WEIGHTS}; point at a trained-model folder (models/).")
    if not path.is_file():
        raise ConfigError(f"{folder} has no {SEGMENTATION_RECORD} (a folder made before the records existed); run "
                          f"`python -m hccp53.model upgrade {folder}` once.")  # fmt: skip
    segmentation = read_json(path)
    _check_keys(path, segmentation, SEGMENTATION_KEYS)
    checksums = read_json(folder / CHECKSUMS) if (folder / CHECKSUMS).is_file() else {}
    _checked_sha(folder, CLASSIFIER_RECORD, classifier, CLASSIFIER_WEIGHTS, checksums)
    _checked_sha(folder, SEGMENTATION_RECORD, segmentation, SEGMENTATION_WEIGHTS, checksums)
    if not isinstance(classifier.get("threshold"), Mapping) or "value" not in classifier["threshold"]:
        raise ConfigError(f"{folder / CLASSIFIER_RECORD} records no threshold (value and how it was chosen); "
                          f"run `python -m hccp53.model upgrade {folder}` once.")  # fmt: skip
    uid = weights_uid(classifier["weights_sha256"], segmentation["weights_sha256"])
    return ModelRecord(folder, classifier, segmentation, uid)


def segmentation_description(config: str | Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The ``network_description`` a segmentation training config (``train_segmentation.yaml``) resolves to."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(config))
    parser.update(dict(overrides))
    return _plain(parser.get_parsed_content("network_description", instantiate=True))


def upgrade_folder(folder: str | Path, segmentation_config: str | Path, reference_phase: str) -> ModelRecord:
    """Give a folder published before the records existed its ``segmentation.json`` and full records.

    The segmentation record is the ``network_description`` of ``segmentation_config`` (the configuration the
    folder's segmentation network was trained with: ``configs/train_segmentation.yaml`` for the shipped
    ``models/`` of bundle 0.3), with ``reference_phase`` (the app's, ``pvp`` in bundle 0.3). The classifier's
    ``network.json`` keeps its values and gains the fields of :func:`finish_record`; a threshold of 0.5 (the app's
    in bundle 0.3) is recorded where none is. ``checksums.json`` is written anew for the weights now in the
    folder (so that weights copied in, e.g. a MONAI Label fine-tuning's, are recorded); they are not changed.
    """
    folder = Path(folder)
    classifier = read_classifier_record(folder)
    if not (folder / SEGMENTATION_WEIGHTS).is_file():
        raise InputError(f"{folder} has no {SEGMENTATION_WEIGHTS} to describe.")
    if reference_phase not in PHASES:
        raise ConfigError(f"The reference phase {reference_phase!r} is not one of {', '.join(PHASES)}.")
    described = (folder / SEGMENTATION_RECORD).is_file()
    # bundle 0.3's networks had no liver output (the config's `liver` came later)
    segmentation = {} if described else segmentation_description(
        segmentation_config, {"reference_phase": reference_phase, "liver": False})
    threshold = classifier.get("threshold") or {"value": 0.5,
                                                "chosen": "fixed at 0.5 (the app's setting in bundle 0.3)"}
    record_checksums(folder)
    finish_record(folder, CLASSIFIER_WEIGHTS, CLASSIFIER_RECORD, {"threshold": threshold})
    finish_record(folder, SEGMENTATION_WEIGHTS, SEGMENTATION_RECORD, segmentation)
    return read_model(folder)


def datalist_reference_phase(datalist: str | Path) -> str:
    """The phase whose voxel grid a datalist's volumes share (its ``reference_phase``, which ``hccp53 synth``
    and ``hccp53 prepare`` write).

    Raises
    ------
    ConfigError
        The datalist does not say, or names an unknown phase.
    """
    path = Path(datalist)
    phase = read_json(path).get("reference_phase")
    if phase not in PHASES:
        raise ConfigError(f"{path} does not name the phase whose grid its volumes share (reference_phase: "
                          f"{phase!r}); add \"reference_phase\" (one of {', '.join(PHASES)}) to it.")  # fmt: skip
    return str(phase)
