"""The trained-model folder: the one thing training hands to the app, the evaluation, the bundle and MONAI Label.

- :mod:`hccp53.model.record`: the per-network records (``network.json``, ``segmentation.json``) and the model UID;
- :mod:`hccp53.model.load`: :func:`load_model`, the networks and their preprocessing built from the records.
"""

from hccp53.model.record import (
    CLASSIFIER_RECORD,
    CLASSIFIER_WEIGHTS,
    SEGMENTATION_RECORD,
    SEGMENTATION_WEIGHTS,
    ModelRecord,
    datalist_reference_phase,
    finish_record,
    model_folder,
    read_classifier_record,
    read_model,
    training_summary,
    upgrade_folder,
    weights_uid,
    write_record,
)

__all__ = [
    "CLASSIFIER_RECORD",
    "CLASSIFIER_WEIGHTS",
    "SEGMENTATION_RECORD",
    "SEGMENTATION_WEIGHTS",
    "ModelRecord",
    "datalist_reference_phase",
    "TrainedModel",
    "finish_record",
    "load_model",
    "model_folder",
    "read_classifier_record",
    "read_model",
    "training_summary",
    "upgrade_folder",
    "weights_uid",
    "write_record",
]


def __getattr__(name: str):  # the loader imports torch and MONAI: only when asked for
    if name in ("TrainedModel", "load_model"):
        from hccp53.model import load

        return getattr(load, name)
    raise AttributeError(f"module 'hccp53.model' has no attribute {name!r}")
