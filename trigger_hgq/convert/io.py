"""Reading QKeras / Keras models from disk and writing converted models (atomically)."""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

from trigger_hgq.atomic import atomic_path
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.verbosity import quiet_warnings


def qkeras_objects() -> dict:
    """The custom objects Keras needs to deserialize QKeras layers and quantizers."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict = {}
    _add_supported_quantized_objects(objects)
    return objects


def _weights_beside(json_path: Path) -> Path | None:
    for cand in (json_path.with_name(f"{json_path.stem}_weights.h5"), json_path.with_suffix(".h5")):
        if cand.is_file():
            return cand
    return None


def check_weight_names(model: tf.keras.Model, weights: Path, path: Path) -> None:
    """Refuse an HDF5 weights file whose layers (with weights) are not the model's, in order, by name.

    Keras loads HDF5 weights by position: another model's file with the same shapes would load silently.
    """
    import h5py

    try:
        with h5py.File(weights, "r") as fh:
            group = fh["model_weights"] if "model_weights" in fh else fh
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("layer_names", [])]
            in_file = [n for n in names if n in group and len(group[n].attrs.get("weight_names", [])) > 0]
    except OSError as err:
        raise TriggerHGQError(f"weights file {str(weights)!r}: not a readable HDF5 file ({err})") from None
    if not names:
        return  # no layer names recorded (not a Keras HDF5 weights file): load_weights decides
    in_model = [layer.name for layer in model.layers if layer.weights]
    for k in range(max(len(in_model), len(in_file))):
        mine = in_model[k] if k < len(in_model) else None
        theirs = in_file[k] if k < len(in_file) else None
        if mine != theirs:
            what = f"layer {mine!r} of {str(path)!r}" if mine else f"the file's extra layer {theirs!r}"
            found = f"the file has {theirs!r} in its place" if mine and theirs else (
                "the file has no weights for it" if mine else "the model has no such layer")
            raise TriggerHGQError(f"weights file {str(weights)!r} does not belong to this model: {what}: {found} "
                                  f"(weights are matched by layer name; file layers {in_file})")


@tf.autograph.experimental.do_not_convert  # building the layers needs no autograph (saves seconds per layer)
def load_model(path: str | os.PathLike, weights: str | os.PathLike | None = None) -> tf.keras.Model:
    """Load a QKeras / Keras model: ``.h5`` / ``.keras`` / SavedModel, or a ``.json`` architecture + HDF5 weights.

    For a ``.json`` file the weights are ``weights`` or, by default, ``<stem>_weights.h5`` (the hls4ml example
    models' layout) or ``<stem>.h5`` beside it.
    """
    import trigger_hgq

    path = Path(path)
    if not path.exists():
        raise TriggerHGQError(f"model file {str(path)!r} does not exist")
    objects = {**qkeras_objects(), **trigger_hgq.custom_objects()}
    if path.suffix == ".json":
        try:
            model = tf.keras.models.model_from_json(path.read_text(), custom_objects=objects)
        except (ValueError, TypeError, KeyError) as err:
            raise TriggerHGQError(f"model file {str(path)!r}: cannot read the architecture: {err}") from err
        if not isinstance(model, tf.keras.Model):
            raise TriggerHGQError(f"model file {str(path)!r}: does not describe a Keras model")
        weights = Path(weights) if weights is not None else _weights_beside(path)
        if weights is None:
            raise TriggerHGQError(
                f"model file {str(path)!r}: no weights given and neither {path.stem}_weights.h5 nor {path.stem}.h5 "
                "exists beside it"
            )
        if not weights.is_file():
            raise TriggerHGQError(f"weights file {str(weights)!r} does not exist")
        check_weight_names(model, weights, path)
        try:
            model.load_weights(weights)
        except (ValueError, OSError) as err:
            raise TriggerHGQError(f"weights file {str(weights)!r} does not fit {str(path)!r}: {err}") from err
        return model
    if weights is not None:
        raise TriggerHGQError(f"model file {str(path)!r}: weights are only read separately for a .json model")
    try:
        return tf.keras.models.load_model(path, custom_objects=objects, compile=False)
    except (ValueError, OSError, TypeError) as err:
        raise TriggerHGQError(f"model file {str(path)!r}: cannot load it: {err}") from err


def save_model(model: tf.keras.Model, path: str | os.PathLike) -> Path:
    """Save ``model`` to ``path`` (``.keras`` or ``.h5``) through a temporary name, then rename."""
    from trigger_hgq.checks import output_file

    path = output_file(path, "output model", (".keras", ".h5"))
    with atomic_path(path) as tmp, quiet_warnings():  # QKeras quantizers in constraint slots: Keras warns
        model.save(tmp)
    return path
