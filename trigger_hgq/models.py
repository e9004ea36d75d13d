"""What the pipeline asks of a candidate model (float, QKeras, AutoQKeras or HGQ), independent of the pipeline.

The HGQ model a run starts from, its test-set figures (class accuracy, exact EBOPs, bitwidth histograms), its
calibration with overflow statistics, whether it outputs logits, and the exact fixed-point model the RTL route
implements for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np

import trigger_hgq.layers as hl

#: Rows per ``predict`` call on a candidate (the test split at once on a small machine).
PREDICT_BATCH = 16384
#: Rows per ``predict`` call when two models' logits are compared.
COMPARE_BATCH = 8192


def class_accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows of ``x`` whose predicted class (argmax) is the label ``y``."""
    return float(np.mean(correct_rows(model, x, y)))


def correct_rows(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row of ``x``, whether the predicted class (argmax) is the label ``y`` (bool)."""
    return np.argmax(model.predict(x, batch_size=PREDICT_BATCH, verbose=0), axis=1) == y


def select_figures(model, data: dict[str, np.ndarray], packed: bool = False) -> dict:
    """The model's accuracy on the selection split of the run's arrays (``select_accuracy``, ``n_select``; with
    ``packed`` also ``select_correct``, the rows it gets right: :func:`trigger_hgq.comparison.pack_correct`);
    empty without selection rows."""
    from trigger_hgq.comparison import pack_correct

    y = data.get("y_select")
    if y is None or not len(y):
        return {}
    correct = correct_rows(model, data["x_select"], y)
    return {"select_accuracy": float(np.mean(correct)), "n_select": int(len(y)),
            **({"select_correct": pack_correct(correct)} if packed else {})}


def quantizes_inputs(model) -> bool:
    """The model's first layer (after its InputLayer) is a QKeras input quantizer (``QActivation``)."""
    first = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"][0]
    return type(first).__name__ == "QActivation"


def logits_model(model):
    """The model without a final weightless softmax layer (the firmware outputs logits: hls4ml's table softmax is
    never exact, and a trigger decision needs only the argmax or a threshold on the logits); else ``model``."""
    last = model.layers[-1]
    if getattr(last, "activation", None) is keras.activations.softmax and not last.get_weights():
        inputs = model.inputs if len(model.inputs) > 1 else model.inputs[0]  # a one-input model takes an array
        return keras.Model(inputs, model.layers[-2].output, name=f"{model.name}_logits")
    return model


def ends_in_softmax(model) -> bool:
    """The model's last layer applies a softmax (a Keras activation or a QKeras ``QActivation('softmax')``)."""
    act = getattr(model.layers[-1], "activation", None)
    if act is keras.activations.softmax:
        return True
    name = act if isinstance(act, str) else getattr(act, "__name__", None) or type(act).__name__
    return str(name).lower() in ("softmax", "quantized_softmax")


def outputs_logits(model, method: str) -> bool:
    """Whether ``model`` outputs logits: HGQ models always do (the conversion drops the output softmax); a
    baseline does unless its last layer is a softmax."""
    return method == "hgq" or not ends_in_softmax(model)


def hgq_start_model(baseline: str | Path, config: str | Path | Mapping, seed: int, warm_start: bool = False,
                    lr_scale: float | None = None, input_shape: tuple[int, ...] | None = None) -> keras.Model:
    """The HGQ model a run trains, named ``hgq_seed<seed>``, with HGQ's own rounding (half up).

    ``warm_start``: the trained QKeras model at ``baseline`` converted bit for bit; else the architecture of the
    baseline ``config`` (a YAML path or the loaded config) built from trigger-hgq layers
    (:func:`hgq_from_architecture`) with fresh weights and the library's default bits. ``lr_scale`` sets the bits'
    learning-rate scale; ``input_shape`` (the data's) fills the config's null sizes.
    """
    bits = {"lr_scale": float(lr_scale)} if lr_scale is not None else None
    name = f"hgq_seed{seed}"
    if warm_start:
        from trigger_hgq.convert import from_qkeras
        from trigger_hgq.convert.io import load_model

        return from_qkeras(load_model(baseline), quantizer=bits, rounding="RND", name=name)
    if not isinstance(config, Mapping):
        from trigger_hgq.baselines.qkeras_models import load_baseline_config

        config = load_baseline_config(config)
    return hgq_from_architecture(config, input_shape, quantizer=bits, name=name)


class HGQKit:
    """trigger-hgq layers for :mod:`trigger_hgq.blocks` (a :class:`~trigger_hgq.blocks.LayerKit`); every
    quantizer starts from the config ``q``."""

    def __init__(self, q: dict):
        self.q = q

    def kernel_args(self, activation: str, use_bias: bool, name: str) -> dict:
        return {"activation": "linear" if activation == "softmax" else activation, "use_bias": bool(use_bias),
                "kernel_quantizer": dict(self.q), "bias_quantizer": dict(self.q),
                "output_quantizer": dict(self.q), "name": name}

    def dense(self, x, units: int, activation: str, use_bias: bool, name: str, batchnorm: bool = False):
        cls = hl.HDenseBatchNorm if batchnorm else hl.HDense
        return cls(int(units), **self.kernel_args(activation, use_bias, name))(x)

    def mean(self, x, name: str):
        return hl.HGlobalAveragePooling1D(output_quantizer=dict(self.q), name=name)(x)

    def add(self, inputs: list, activation: str, name: str, particles: bool):
        return hl.HAdd(activation, output_quantizer=dict(self.q), name=name, per_particle=particles or None)(
            list(inputs))

    def reshape(self, x, shape, name: str):
        return hl.HReshape(tuple(shape), name=name)(x)

    def concatenate(self, inputs: list, axis: int, name: str):
        return hl.HConcatenate(axis, name=name)(list(inputs))

    def permute(self, x, dims, name: str):
        return hl.HPermute(tuple(dims), name=name)(x)


def hgq_from_architecture(config: Mapping, input_shape: tuple[int, ...] | None = None,
                          quantizer: dict | None = None, name: str | None = None) -> keras.Model:
    """The layers of a baseline config as an HGQ model with fresh weights: an input quantizer (``HQuantize``,
    saturating), then per config entry ``HDense`` / ``HConv1D`` / ``HConv2D`` (the activation fused into the
    layer's output quantizer; ``batchnorm`` as a trainable ``H*BatchNorm``), ``HMaxPooling1D/2D``,
    ``HGlobalAveragePooling1D``, the particle blocks of :mod:`trigger_hgq.blocks` (``interaction``,
    ``mix_particles``), ``HFlatten``, ``HDropout``. The config's quantization is ignored and a final softmax
    dropped (the model outputs logits). Every quantizer starts from :class:`~trigger_hgq.quantizer.QuantizerConfig`
    defaults updated by ``quantizer`` (e.g. ``lr_scale``), rounding half up.
    """
    from trigger_hgq.baselines.qkeras_models import input_shape_of, validate_baseline_config
    from trigger_hgq.blocks import PARTICLE_ENTRIES, particle_entry

    validate_baseline_config(dict(config))
    shape = input_shape_of(dict(config), input_shape)
    q = {**(quantizer or {}), "rounding": "RND"}
    kit = HGQKit(q)
    entries = list(config["layers"])
    inp = keras.Input(shape, name="inputs")
    per_particle = len(shape) == 2 and bool(entries) and entries[0]["type"] in ("dense", "interaction")
    x = hl.HQuantize(output_quantizer={**q, "overflow": "SAT"}, name="inputs_quantizer",
                     per_particle=per_particle or None)(inp)
    for idx, entry in enumerate(entries):
        kind = entry["type"]
        layer_name = entry.get("name") or ("output" if idx == len(entries) - 1 and kind == "dense"
                                           else f"{kind}_{idx}")
        activation = entry.get("activation", "linear")
        if kind == "dense":
            x = kit.dense(x, int(entry["units"]), activation, bool(entry.get("use_bias", True)), layer_name,
                          bool(entry.get("batchnorm")))
        elif kind in ("conv1d", "conv2d"):
            cls = {("conv1d", False): hl.HConv1D, ("conv1d", True): hl.HConv1DBatchNorm,
                   ("conv2d", False): hl.HConv2D, ("conv2d", True): hl.HConv2DBatchNorm}[kind,
                                                                                     bool(entry.get("batchnorm"))]
            x = cls(int(entry["filters"]), entry["kernel_size"], strides=entry.get("strides", 1),
                    padding=entry.get("padding", "valid"),
                    **kit.kernel_args(activation, bool(entry.get("use_bias", True)), layer_name))(x)
        elif kind in ("maxpool1d", "maxpool2d"):
            cls = hl.HMaxPooling1D if kind == "maxpool1d" else hl.HMaxPooling2D
            x = cls(entry.get("pool_size", 2), name=layer_name)(x)
        elif kind in PARTICLE_ENTRIES:
            x = particle_entry(kit, x, entry, layer_name)
        elif kind == "flatten":
            x = hl.HFlatten(name=layer_name)(x)
        else:
            x = hl.HDropout(float(entry.get("rate", 0.1)), name=layer_name)(x)
    return keras.Model(inp, x, name=name or f"{config.get('name', 'baseline')}_hgq")


def bits_histogram(model) -> dict[str, dict[str, dict[str, int]]]:
    """Per HGQ layer: how many weights (``weights``, kernel layers only) and activations (``activations``) have
    each total bitwidth (keep + integer + fractional bits; 0 = pruned), as the report's ``bits_histogram``."""
    from trigger_hgq.layers import HKernelLayer, HQuantizedLayer
    from trigger_hgq.report.summarize import bits_counts

    out = {}
    for layer in model.layers:
        if not isinstance(layer, HQuantizedLayer):
            continue
        entry = {}
        if isinstance(layer, HKernelLayer):
            k, i, f = layer.kq.kif_numpy(layer.folded()[0])
            entry["weights"] = bits_counts(k + i + f)
        k, i, f = layer.oq.kif_numpy()
        entry["activations"] = bits_counts(k + i + f)
        out[layer.name] = entry
    return out


def model_ebops(model, method: str, x_calib: np.ndarray) -> int:
    """Exact EBOPs of a calibrated HGQ model (``method`` ``hgq``), or of a QKeras / float model through its HGQ
    image on the same grid (float tensors as 10 fractional bits), calibrated on the rows ``x_calib``."""
    from trigger_hgq.bops import ebops
    from trigger_hgq.calibration import calibrate
    from trigger_hgq.convert import from_qkeras

    if method != "hgq":
        model = from_qkeras(model, float_weight_f=10, float_activation_f=10)
        calibrate(model, x_calib)
    return int(ebops(model))


def calibrate_hgq(model, data: dict[str, np.ndarray], margin_bits: int) -> dict[str, int]:
    """Calibrate an HGQ model on ``x_train`` + ``x_val`` with ``margin_bits`` of headroom (in place).

    Returns the report's ``overflow`` entry: how many ``x_test`` rows leave a calibrated range, how many still
    wrap around after the margin, and how many change class because of it (against the same model with no
    wrap-around, :func:`trigger_hgq.calibration.unwrapped_predict`).
    """
    from trigger_hgq.calibration import calibrate, rows_outside_ranges, unwrapped_predict, widen_ranges

    x_cal, x_test = np.concatenate([data["x_train"], data["x_val"]]), data["x_test"]
    calibrate(model, x_cal)
    reference = np.argmax(unwrapped_predict(model, x_test), axis=1)
    outside = rows_outside_ranges(model, x_test)
    widen_ranges(model, margin_bits)
    wrapping = rows_outside_ranges(model, x_test, modes=("WRAP",))
    flips = np.argmax(model.predict(x_test, batch_size=PREDICT_BATCH, verbose=0), axis=1) != reference
    return {"margin_bits": int(margin_bits), "test_rows_outside_calibration": int(outside.sum()),
            "test_rows_wrapping": int(wrapping.sum()), "test_class_flips": int(flips.sum())}
