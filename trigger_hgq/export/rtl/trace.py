"""Trace a calibrated trigger-hgq model into da4ml's fixed-point dataflow (a ``CombLogic`` of adders and wires).

The RTL's inputs are the outputs of the model's input quantizers (:class:`~trigger_hgq.layers.HQuantize`): one
port field per element, in that element's own ``(k, i, f)`` format. Each layer traces itself
(:meth:`~trigger_hgq.layers.HLayer.trace`, with the da4ml operations of :class:`TraceOps`); a layer with an output
quantizer is then quantized here. Every compute layer becomes constant
multiplications (da4ml's shift-and-add solver on the exact quantized, BatchNorm-folded weights), bias additions,
``relu`` and the per-element output quantization with the same rounding and overflow as the core
(:mod:`trigger_hgq.quantizer`): ``RND`` (half up), ``RND_CONV`` (half to even, QKeras' own: converted QKeras
models keep it) or ``TRN``, then ``WRAP`` or ``SAT``; zero-bit elements are constant zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import keras
import numpy as np

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.optional import da4ml_trace
from trigger_hgq.graph import model_graph
from trigger_hgq.layers import HLayer, HQuantize, HQuantizedLayer
from trigger_hgq.padding import window_padding
from trigger_hgq.quantizer import FixedQuantizer

_NO_OVERFLOW_I = 64  # integer bits large enough that a quantization only rounds


@dataclass
class TracedModel:
    """A model's dataflow as da4ml sees it.

    Attributes:
        comb: the ``da4ml.cmvm.types.CombLogic`` (inputs and outputs flattened and concatenated in model order).
        input_layers: the :class:`HQuantize` layers whose outputs are the RTL inputs, in port order.
        output_shapes: shape of each model output (without the batch axis).
        layer_cost: da4ml's cost estimate (LUTs) of each layer's own logic.
    """

    comb: object
    input_layers: list[HQuantize]
    output_shapes: list[tuple[int, ...]]
    layer_cost: dict[str, float]


# ------------------------------------------------------------------------------------------ quantization
def quantize_value(value: Fraction, k: int, i: int, f: int, overflow: str, rounding: str) -> Fraction:
    """The core's quantization of one exact value (reference for constants): round onto ``2**-f``, then wrap or
    saturate into ``[-k * 2**i, 2**i - 2**-f]``; zero when ``k + i + f <= 0``."""
    if k + i + f <= 0:
        return Fraction(0)
    scaled = value * Fraction(2) ** f
    if rounding == "RND_CONV":
        n = round(scaled)  # Fraction rounds half to even
    else:
        n = math.floor(scaled + Fraction(1, 2)) if rounding == "RND" else math.floor(scaled)
    lo, hi = -k * 2 ** (i + f), 2 ** (i + f) - 1  # k + i + f > 0 with k in {0, 1} gives i + f >= 0
    if overflow == "SAT":
        n = min(max(n, lo), hi)
    else:
        n = (n - lo) % 2 ** (k + i + f) + lo
    return Fraction(n) / Fraction(2) ** f


def round_half_even(v, f: int):
    """Round a ``FixedVariable`` onto ``2**-f`` with ties to even (``RND_CONV``), no overflow.

    With ``d`` dropped bits, ``X`` the value in units of its own LSB and ``b`` the lowest kept bit,
    ``floor((X + 2**(d-1) - 1 + b) / 2**d)`` rounds half to even: a tie rounds up only when ``b`` is odd.
    One extra adder (``+ b``) over half-up rounding.
    """
    f0 = int(v.kif[2])
    if f >= f0:
        return v
    b = (v * 2.0**f).quantize(0, 1, 0, "WRAP", "TRN")  # floor(v * 2**f) mod 2
    t = v + b * 2.0**-f0 + (2.0 ** (-f - 1) - 2.0**-f0)
    return t.quantize(1, _NO_OVERFLOW_I, f, "WRAP", "TRN")


def quantize_var(v, k: int, i: int, f: int, overflow: str, rounding: str, where: str):
    """Quantize one ``da4ml.trace.FixedVariable`` exactly as :class:`FixedQuantizer` does in inference."""
    FixedVariable = da4ml_trace().FixedVariable  # noqa: N806 (da4ml's class)

    if rounding not in ("RND", "RND_CONV", "TRN"):
        raise TriggerHGQError(f"{where}: rounding {rounding!r} has no RTL form here (use 'RND', 'RND_CONV' or 'TRN')")
    k, i, f = int(k), int(i), int(f)
    if k + i + f <= 0:
        return FixedVariable.from_const(0.0, v.hwconf)
    if v.low == v.high:  # a constant: computed here (da4ml wraps unsigned constants modulo 2**(i+1))
        return FixedVariable.from_const(float(quantize_value(Fraction(v.low), k, i, f, overflow, rounding)), v.hwconf)
    if rounding == "RND_CONV":  # round first (exactly, no overflow), then the overflow of the rounded value
        return quantize_var(round_half_even(v, f), k, i, f, overflow, "TRN", where)
    if overflow == "SAT" or k == 1 or v.low >= 0:
        return v.quantize(k, i, f, overflow, rounding)
    # Unsigned WRAP of a value that may be negative: two's-complement low bits. da4ml narrows i to one bit above
    # the value's own range, which differs when i is wider; then the sign bit is extended by hand.
    t = v.quantize(1, _NO_OVERFLOW_I, f, "WRAP", rounding)
    if t.low >= 0 or t.low == t.high:
        return quantize_var(t, k, i, f, "WRAP", "TRN", where)
    t_i = max(t.kif[1], math.ceil(math.log2(-t.low)))
    if i <= t_i + 1:
        return t.quantize(0, i, f, "WRAP", "TRN")
    w = t.quantize(0, t_i + 1, f, "WRAP", "TRN")  # t mod 2**(t_i + 1); bit t_i is the sign of t
    sign = (w * 2.0**-t_i).quantize(0, 1, 0, "WRAP", "TRN")
    return w + sign * (2.0**i - 2.0 ** (t_i + 1))


def quantize_array(values: np.ndarray, q: FixedQuantizer, where: str) -> np.ndarray:
    """Apply an activation quantizer (its calibrated per-element ``k, i, f``) to an object array of variables."""
    k, i, f = q.kif_numpy()
    if k.shape != values.shape:
        raise TriggerHGQError(f"{where}: quantizer shape {k.shape} does not match the traced shape {values.shape}")
    out = np.empty(values.shape, dtype=object)
    for idx in np.ndindex(values.shape):
        out[idx] = quantize_var(values[idx], k[idx], i[idx], f[idx], q.config.overflow, q.config.rounding, where)
    return out


# ------------------------------------------------------------------------------------------ layers
def _relu(values: np.ndarray) -> np.ndarray:
    out = np.empty(values.shape, dtype=object)
    for idx in np.ndindex(values.shape):
        out[idx] = values[idx].relu()
    return out


def _patches(x: np.ndarray, window: tuple[int, ...], strides: tuple[int, ...], padding: str, zero) -> np.ndarray:
    """Windows of ``x`` (spatial..., channels) as ``(*out_spatial, prod(window) * channels)``; TF's padding."""
    spatial = x.shape[:-1]
    pads, out_sizes = window_padding(spatial, window, strides, padding)
    padded = np.full(tuple(n + a + b for n, (a, b) in zip(spatial, pads, strict=True)) + x.shape[-1:], zero,
                     dtype=object)
    padded[tuple(slice(a, a + n) for n, (a, _) in zip(spatial, pads, strict=True))] = x
    rows = np.empty((*out_sizes, int(np.prod(window)) * x.shape[-1]), dtype=object)
    for pos in np.ndindex(*out_sizes):
        sl = tuple(slice(p * s, p * s + k) for p, s, k in zip(pos, strides, window, strict=True))
        rows[pos] = padded[sl].ravel()
    return rows


class TraceOps:
    """The operations a layer's :meth:`~trigger_hgq.layers.HLayer.trace` may use on object arrays of da4ml
    variables (besides ``+``, ``*`` by a constant, ``reshape``)."""

    def __init__(self, solver_options: dict):
        self.solver_options = solver_options

    def matmul(self, x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """``x @ kernel`` with constant ``kernel``: da4ml's shift-and-add constant-multiplication solver."""
        return np.asarray((da4ml_trace().FixedVariableArray(x, self.solver_options) @ kernel)._vars, dtype=object)

    @staticmethod
    def relu(x: np.ndarray) -> np.ndarray:
        return _relu(x)

    @staticmethod
    def patches(x: np.ndarray, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> np.ndarray:
        """Windows of ``x`` (spatial..., channels) as ``(*out_spatial, prod(window) * channels)``, zero-padded
        as TF pads for ``padding`` (``valid`` or ``same``)."""
        zero = da4ml_trace().FixedVariable.from_const(0.0, x.flat[0].hwconf)
        return _patches(x, tuple(window), tuple(strides), padding, zero)

    @staticmethod
    def pool(x: np.ndarray, pool_size: tuple[int, ...], strides: tuple[int, ...], op: str) -> np.ndarray:
        """Per-channel ``max`` or ``avg`` (power-of-two window: an exact shift) over ``valid`` windows."""
        rows = _patches(x[..., None], tuple(pool_size) + (1,), tuple(strides) + (1,), "valid", None)
        out = np.empty(rows.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            window = list(rows[idx])
            acc = window[0]
            for v in window[1:]:
                acc = acc.max_of(v) if op == "max" else acc + v
            out[idx] = acc if op == "max" else acc * (1.0 / len(window))
        return out


def _trace_layer(layer, inputs: list[np.ndarray], ops: TraceOps) -> np.ndarray:
    where = f"layer {layer.name!r} ({type(layer).__name__})"
    if isinstance(layer, keras.layers.Dropout):  # a plain Keras dropout is the identity in firmware
        return inputs[0]
    if not isinstance(layer, HLayer):
        raise TriggerHGQError(f"{where}: no RTL form for this layer (supported: trigger-hgq layers only)")
    y = layer.trace(inputs, ops)
    if isinstance(layer, HQuantizedLayer):
        return quantize_array(np.asarray(y, dtype=object), layer.oq, where)
    return y


# ------------------------------------------------------------------------------------------ model
def _input_vars(layer: HQuantize, hwconf) -> np.ndarray:
    k, i, f = layer.oq.kif_numpy()
    return da4ml_trace().FixedVariableArray.from_kif(k, i, f, hwconf)._vars


def trace_model(model: keras.Model, hwconf=(1, -1, -1), hard_dc: int = 2) -> TracedModel:
    """Trace ``model`` (calibrated) into a ``CombLogic``; raises :class:`TriggerHGQError` naming the layer that has
    no RTL form. ``hwconf`` is da4ml's ``(adder_size, carry_size, latency_cutoff)``; ``hard_dc`` the extra adder
    depth the constant-multiplication solver may spend to save adders."""
    trace_mod = da4ml_trace()
    comb_trace = trace_mod.comb_trace
    hwconf = trace_mod.HWConfig(*hwconf)
    ops = TraceOps({"hard_dc": int(hard_dc)})
    if any(isinstance(layer, keras.Model) for layer in model.layers):
        raise TriggerHGQError(f"model {model.name!r}: nested models have no RTL form here; flatten the model first")
    graph = model_graph(model)
    values: dict[str, np.ndarray] = {}
    inputs: list[HQuantize] = []
    input_of: dict[str, str] = {}  # HQuantize layer name -> the model input it reads
    layer_cost: dict[str, float] = {}
    for name, node in graph.nodes.items():
        layer = node.layer
        if name in graph.inputs:
            continue
        if isinstance(layer, HQuantize) and len(node.inputs) == 1 and node.inputs[0] in graph.inputs:
            values[name] = _input_vars(layer, hwconf)
            inputs.append(layer)
            input_of[name] = node.inputs[0]
            continue
        missing = [src for src in node.inputs if src not in values]
        if missing:
            raise TriggerHGQError(
                f"layer {name!r} ({type(layer).__name__}): its input {missing[0]!r} is not quantized; "
                "start the model with HQuantize and use trigger-hgq layers throughout"
            )
        args = [values[src] for src in node.inputs]
        out = _trace_layer(layer, args, ops)
        values[name] = out
        flat_in = [v for a in args for v in a.ravel()]
        layer_cost[name] = float(comb_trace(flat_in, list(out.ravel())).cost)
    if not inputs:
        raise TriggerHGQError(f"model {model.name!r}: no HQuantize layer reads the model inputs")
    missing = [name for name in graph.outputs if name not in values]
    if missing:
        raise TriggerHGQError(f"model {model.name!r}: output {missing[0]!r} is not quantized (no RTL form)")
    inputs.sort(key=lambda q: graph.inputs.index(input_of[q.name]))
    in_vars = [v for q in inputs for v in values[q.name].ravel()]
    out_vars = [v for name in graph.outputs for v in values[name].ravel()]
    comb = comb_trace(in_vars, out_vars)
    return TracedModel(comb, inputs, [values[name].shape for name in graph.outputs], layer_cost)
