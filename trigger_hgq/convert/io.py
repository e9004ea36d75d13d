"""Reading QKeras / Keras models from disk and writing converted models (atomically).

A ``.keras`` file is loaded by Keras itself. A ``.json`` architecture with HDF5 weights beside it is read here:
a Keras 3 architecture (``model.to_json()``) goes to ``keras.models.model_from_json``; a Keras 2 architecture
(the hls4ml example models, QKeras before Keras 3) is rebuilt layer by layer from its configs with Keras 3 and
qkeras layers (:func:`read_legacy_json`), and its weights are read with h5py by layer name
(:func:`read_legacy_weights`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np

from trigger_hgq.atomic import atomic_path
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.verbosity import quiet_warnings

# Keys of Keras 2 layer configs that Keras 3 layers do not take, or that only matter for training (the weights
# are read from the file): dropped before a layer is built.
_DROPPED_KEYS = ("batch_input_shape", "batch_shape", "input_shape", "ragged", "sparse", "kernel_range",
                 "bias_range", "input_dtype")
_TRAINING_SUFFIXES = ("_initializer", "_regularizer", "_constraint")


def qkeras_objects() -> dict:
    """The custom objects Keras needs to deserialize QKeras layers and quantizers: qkeras' public layer,
    quantizer, constraint and initializer classes by name."""
    import qkeras

    objects: dict = {}
    bases = (keras.layers.Layer, keras.constraints.Constraint, keras.initializers.Initializer)
    for module in (qkeras, qkeras.quantizers):
        for name, obj in vars(module).items():
            if name.startswith("_") or not isinstance(obj, type):
                continue
            if issubclass(obj, bases) or module is qkeras.quantizers and name.startswith(
                    ("quantized_", "binary", "ternary", "stochastic_", "bernoulli")):
                objects[name] = obj
    return objects


def _weights_beside(json_path: Path) -> Path | None:
    stem = json_path.stem
    for cand in (json_path.with_name(f"{stem}_weights.h5"), json_path.with_name(f"{stem}.weights.h5"),
                 json_path.with_suffix(".h5")):
        if cand.is_file():
            return cand
    return None


# ------------------------------------------------------------------------------------------ legacy JSON
def _is_keras3_config(arch: dict) -> bool:
    version = str(arch.get("keras_version", ""))
    if version.startswith("3"):
        return True
    layers = (arch.get("config") or {}).get("layers") or []
    return any("module" in layer for layer in layers if isinstance(layer, dict))


def _layer_class(class_name: str, where: str):
    objects = qkeras_objects() if class_name.startswith("Q") else {}
    if class_name in objects:
        return objects[class_name]
    cls = getattr(keras.layers, class_name, None)
    if isinstance(cls, type) and issubclass(cls, keras.layers.Layer):
        return cls
    raise TriggerHGQError(f"{where}: unknown layer type {class_name!r} (neither a Keras nor a qkeras layer)")


def _quantizer(value, where: str):
    """A Keras 2 serialized qkeras quantizer (``{"class_name": ..., "config": ...}``) as a qkeras object."""
    from qkeras.quantizers import get_quantizer

    try:
        return get_quantizer(value)
    except (ValueError, TypeError, KeyError, NameError) as err:
        raise TriggerHGQError(f"{where}: cannot read quantizer {value!r}: {err}") from err


def _layer_from_config(entry: dict, where: str) -> keras.layers.Layer:
    class_name = entry.get("class_name")
    config = dict(entry.get("config") or {})
    if not isinstance(class_name, str) or not isinstance(config, dict):
        raise TriggerHGQError(f"{where}: a layer entry needs 'class_name' and 'config'")
    cls = _layer_class(class_name, where)
    for key in list(config):
        if key in _DROPPED_KEYS or key.endswith(_TRAINING_SUFFIXES):
            del config[key]
    if isinstance(config.get("dtype"), dict):  # Keras 2.x policy objects
        config["dtype"] = "float32"
    for key, value in list(config.items()):
        if (key.endswith("_quantizer") or (class_name == "QActivation" and key == "activation")) and isinstance(
                value, dict):
            config[key] = _quantizer(value, f"{where}, key {key!r}")
    if class_name == "Reshape" and "target_shape" in config:
        config["target_shape"] = tuple(config["target_shape"])
    try:
        return cls(**config)
    except (ValueError, TypeError, KeyError) as err:
        raise TriggerHGQError(f"{where}: cannot build a {class_name} from its config: {err}") from err


def _input_of(entry: dict, where: str) -> keras.KerasTensor:
    config = entry.get("config") or {}
    shape = config.get("batch_input_shape") or config.get("batch_shape")
    if not shape or any(d is None for d in shape[1:]):
        raise TriggerHGQError(f"{where}: the input needs a fixed 'batch_input_shape', got {shape!r}")
    return keras.Input(tuple(int(d) for d in shape[1:]), name=config.get("name") or entry.get("name"))


def _inbound_names(entry: dict, where: str) -> list[str]:
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1:
        raise TriggerHGQError(f"{where}: called {len(nodes)} times; shared layers are not supported")
    names = []
    for ref in nodes[0]:
        if isinstance(ref, list | tuple) and ref and isinstance(ref[0], str):
            if len(ref) > 2 and int(ref[2]) != 0:
                raise TriggerHGQError(f"{where}: reads output {ref[2]} of {ref[0]!r} (multi-output layers)")
            names.append(ref[0])
        else:
            raise TriggerHGQError(f"{where}: cannot read its inbound node {ref!r}")
    return names


def read_legacy_json(arch: dict, path: Path) -> keras.Model:
    """Rebuild a Keras 2 ``Sequential`` / ``Model`` architecture (a parsed ``model.to_json()``) as a Keras 3
    model with Keras and qkeras layers; the weights stay at their initial values (see :func:`read_legacy_weights`)."""
    kind = arch.get("class_name")
    config = arch.get("config")
    layers = config.get("layers") if isinstance(config, dict) else config
    if kind not in ("Sequential", "Model", "Functional") or not isinstance(layers, list) or not layers:
        raise TriggerHGQError(f"model file {str(path)!r}: not a Keras Sequential or functional model "
                              f"(class_name {kind!r})")
    name = (config.get("name") if isinstance(config, dict) else None) or path.stem
    with quiet_warnings():
        if kind == "Sequential":
            entries = list(layers)
            if entries[0].get("class_name") == "InputLayer":
                first = entries.pop(0)
                inp = _input_of(first, f"model file {str(path)!r}, layer {first['config'].get('name')!r}")
            else:
                where = f"model file {str(path)!r}, layer {entries[0]['config'].get('name')!r}"
                inp = _input_of(entries[0], where)
            h = inp
            for entry in entries:
                where = f"model file {str(path)!r}, layer {(entry.get('config') or {}).get('name')!r}"
                h = _call(_layer_from_config(entry, where), h, where)
            return keras.Model(inp, h, name=name)
        tensors: dict[str, keras.KerasTensor] = {}
        for entry in layers:
            lname = entry.get("name") or (entry.get("config") or {}).get("name")
            where = f"model file {str(path)!r}, layer {lname!r}"
            if entry.get("class_name") == "InputLayer":
                tensors[lname] = _input_of(entry, where)
                continue
            sources = _inbound_names(entry, where)
            missing = [s for s in sources if s not in tensors]
            if missing:
                raise TriggerHGQError(f"{where}: reads {missing[0]!r}, which no earlier layer produces")
            args = [tensors[s] for s in sources]
            tensors[lname] = _call(_layer_from_config(entry, where), args if len(args) > 1 else args[0], where)

        def refs(key):
            items = config.get(key) or []
            if items and isinstance(items[0], str):  # a single [name, node, tensor]
                items = [items]
            return [tensors[item[0]] for item in items]

        try:
            inputs, outputs = refs("input_layers"), refs("output_layers")
        except (KeyError, IndexError, TypeError) as err:
            raise TriggerHGQError(f"model file {str(path)!r}: cannot read its inputs / outputs: {err}") from err
        return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                           name=name)


def _call(layer: keras.layers.Layer, x, where: str):
    try:
        return layer(x)
    except (ValueError, TypeError) as err:
        raise TriggerHGQError(f"{where}: cannot apply it to its input: {err}") from err


def _h5_group(fh):
    return fh["model_weights"] if "model_weights" in fh else fh


def _names(values) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in values]


def _short(weight_name: str) -> str:
    """``fc1/kernel:0`` -> ``kernel``."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def read_legacy_weights(model: keras.Model, weights: Path, path: Path) -> None:
    """Set the weights of ``model`` from a Keras 2 HDF5 weights file, layer by layer name, weight by weight name.

    A file whose layers with weights are not the model's (by name, in order) is refused: it belongs to another
    model. Raises :class:`TriggerHGQError` naming the file and the layer.
    """
    import h5py

    try:
        fh = h5py.File(weights, "r")
    except OSError as err:
        raise TriggerHGQError(f"weights file {str(weights)!r}: not a readable HDF5 file ({err})") from None
    with fh:
        group = _h5_group(fh)
        names = _names(group.attrs.get("layer_names", []))
        if not names:
            raise TriggerHGQError(f"weights file {str(weights)!r}: no 'layer_names' (not a Keras 2 HDF5 weights file)")
        in_file = [n for n in names if n in group and len(group[n].attrs.get("weight_names", [])) > 0]
        in_model = [layer.name for layer in model.layers if layer.weights]
        for k in range(max(len(in_model), len(in_file))):
            mine = in_model[k] if k < len(in_model) else None
            theirs = in_file[k] if k < len(in_file) else None
            if mine != theirs:
                what = f"layer {mine!r} of {str(path)!r}" if mine else f"the file's extra layer {theirs!r}"
                found = f"the file has {theirs!r} in its place" if mine and theirs else (
                    "the file has no weights for it" if mine else "the model has no such layer")
                raise TriggerHGQError(f"weights file {str(weights)!r} does not fit {str(path)!r}: it belongs to "
                                      f"another model: {what}: {found} (weights are matched by layer name; file "
                                      f"layers {in_file})")
        for lname in in_file:
            layer = model.get_layer(lname)
            stored = {}
            for wname in _names(group[lname].attrs["weight_names"]):
                stored[_short(wname)] = np.asarray(group[lname][wname])
            mine = {_short(v.path): v for v in layer.weights}
            missing = sorted(set(mine) - set(stored))
            extra = sorted(set(stored) - set(mine))
            if missing or extra:
                raise TriggerHGQError(f"weights file {str(weights)!r} does not fit {str(path)!r}: layer {lname!r} "
                                      f"has weights {sorted(mine)}, the file {sorted(stored)}")
            for key, var in mine.items():
                if tuple(var.shape) != stored[key].shape:
                    raise TriggerHGQError(
                        f"weights file {str(weights)!r} does not fit {str(path)!r}: layer {lname!r} weight {key!r} "
                        f"has shape {tuple(var.shape)}, the file {stored[key].shape}")
                var.assign(stored[key].astype(var.dtype))


def _read_json(path: Path, weights: str | os.PathLike | None, objects: dict) -> keras.Model:
    try:
        arch = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise TriggerHGQError(f"model file {str(path)!r}: not a JSON file ({err})") from err
    if not isinstance(arch, dict):
        raise TriggerHGQError(f"model file {str(path)!r}: does not describe a Keras model")
    weights = Path(weights) if weights is not None else _weights_beside(path)
    if weights is None:
        raise TriggerHGQError(
            f"model file {str(path)!r}: no weights given and neither {path.stem}_weights.h5 nor {path.stem}.h5 "
            "exists beside it"
        )
    if not weights.is_file():
        raise TriggerHGQError(f"weights file {str(weights)!r} does not exist")
    if _is_keras3_config(arch):
        try:
            with quiet_warnings():
                model = keras.models.model_from_json(path.read_text(), custom_objects=objects)
        except (ValueError, TypeError, KeyError) as err:
            raise TriggerHGQError(f"model file {str(path)!r}: cannot read the architecture: {err}") from err
        if not str(weights).endswith(".weights.h5"):
            read_legacy_weights(model, weights, path)
            return model
        try:
            model.load_weights(weights)
        except (ValueError, OSError) as err:
            raise TriggerHGQError(f"weights file {str(weights)!r} does not fit {str(path)!r}: {err}") from err
        return model
    model = read_legacy_json(arch, path)
    read_legacy_weights(model, weights, path)
    return model


def load_model(path: str | os.PathLike, weights: str | os.PathLike | None = None) -> keras.Model:
    """Load a QKeras / Keras model: a ``.keras`` file (or a whole model saved by Keras 3 as ``.h5``), or a ``.json``
    architecture + HDF5 weights.

    For a ``.json`` file the weights are ``weights`` or, by default, ``<stem>_weights.h5`` (the hls4ml example
    models' layout), ``<stem>.weights.h5`` or ``<stem>.h5`` beside it. Keras 2 architectures and HDF5 weight
    files are read by this module (see the module docstring).
    """
    import trigger_hgq

    path = Path(path)
    if not path.exists():
        raise TriggerHGQError(f"model file {str(path)!r} does not exist")
    objects = {**qkeras_objects(), **trigger_hgq.custom_objects()}
    if path.suffix == ".json":
        return _read_json(path, weights, objects)
    if weights is not None:
        raise TriggerHGQError(f"model file {str(path)!r}: weights are only read separately for a .json model")
    if path.suffix not in (".keras", ".h5"):
        raise TriggerHGQError(f"model file {str(path)!r}: expected a .keras (or Keras 3 .h5) file or a .json "
                              "architecture")
    try:
        with quiet_warnings():
            return keras.saving.load_model(path, custom_objects=objects, compile=False)
    except (ValueError, OSError, TypeError, KeyError) as err:
        raise TriggerHGQError(f"model file {str(path)!r}: cannot load it: {err}") from err


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save ``model`` to ``path`` (``.keras``, or Keras' legacy ``.h5``) through a temporary name, then rename."""
    from trigger_hgq.checks import output_file

    path = output_file(path, "output model", (".keras", ".h5"))
    with atomic_path(path) as tmp, quiet_warnings():
        model.save(tmp)
    return path
