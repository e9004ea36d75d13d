"""Models trained by the Keras 2 code (fixtures in ``tests/golden/``, see its README) rebuilt on Keras 3 from their
layer configs, with their variables set: bit-identical outputs, the same EBOPs per layer and the same (k, i, f) of
every quantizer, under the backend of this process (run it under KERAS_BACKEND=tensorflow and jax)."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.bops import h_layers
from trigger_hgq.layers.registry import layer_class

GOLDEN = Path(__file__).resolve().parent / "golden"


def rebuild(folder: Path) -> keras.Model:
    """The model of ``layers.json`` (layer classes from the registry, configs as saved), variables from
    ``weights.npz`` keyed ``<layer>/<variable>``; every saved variable and every model variable is matched."""
    spec = json.loads((folder / "layers.json").read_text())
    tensors: dict[str, keras.KerasTensor] = {}
    inputs = []
    for entry in spec:
        if entry["class_name"] == "InputLayer":
            shape = tuple(entry["config"]["batch_input_shape"][1:])
            tensors[entry["name"]] = keras.Input(shape, name=entry["name"])
            inputs.append(tensors[entry["name"]])
            continue
        layer = layer_class(entry["class_name"]).from_config(entry["config"])
        sources = [tensors[name] for name in entry["inbound"]]
        tensors[entry["name"]] = layer(sources if len(sources) > 1 else sources[0])
    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], tensors[spec[-1]["name"]])
    saved = dict(np.load(folder / "weights.npz"))
    seen = set()
    for layer in model.layers:
        for var in layer.weights:
            key = f"{layer.name}/{var.path.split('/')[-1]}"
            var.assign(saved[key])
            seen.add(key)
    assert seen == set(saved), sorted(set(saved) ^ seen)
    return model


@pytest.fixture(params=["jet_mlp", "deepsets"])
def golden(request):
    folder = GOLDEN / request.param
    if not folder.is_dir():
        pytest.skip(f"no golden fixture {folder}")
    return folder, rebuild(folder)


def test_outputs_are_bit_identical_to_keras2(golden):
    folder, model = golden
    x = np.load(folder / "inputs.npy")
    expected = np.load(folder / "outputs.npy")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x, training=False)), expected)
    np.testing.assert_array_equal(model.predict(x, batch_size=512, verbose=0), expected)


def test_ebops_and_bits_equal_keras2(golden):
    folder, model = golden
    saved = json.loads((folder / "ebops.json").read_text())
    assert th.ebops(model) == saved["ebops"]
    assert th.layer_ebops(model) == saved["layer_ebops"]
    kif = dict(np.load(folder / "kif.npz"))
    checked = 0
    for layer in h_layers(model):
        for q in layer.quantizers():
            if q.is_weight:
                kernel, bias = layer.folded()
                got = q.kif_numpy(kernel if q.name == "kernel" else bias)
            else:
                got = q.kif_numpy()
            for part, values in zip("kif", got, strict=True):
                np.testing.assert_array_equal(values, kif[f"{layer.name}/{q.name}/{part}"])
                checked += 1
    assert checked == len(kif)
