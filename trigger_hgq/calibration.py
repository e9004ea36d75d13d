"""Set exact activation ranges from a dataset, so that no value of that dataset overflows afterwards.

A margin (``margin_bits``) widens every wrapping activation range by whole integer bits beyond what the data
needed: a trigger sees rare, extreme inputs all the time, and a value that leaves its range wraps around (two's
complement) into an arbitrary one. The margin lives in ``vmin``/``vmax``, so the integer bits that ``kif`` derives
from them, the EBOPs, the hls4ml export and the RTL route all carry it. :func:`rows_outside_ranges` tells which
rows of a dataset leave a range.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
from keras import ops

from trigger_hgq.bops import h_layers
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.layers.base import connect
from trigger_hgq.quantizer import FixedQuantizer, pow2


def activation_quantizers(model: keras.Model) -> list[FixedQuantizer]:
    """Every activation (output) quantizer of the model."""
    return [q for layer in h_layers(model) for q in layer.quantizers() if not q.is_weight]


def reset_ranges(model: keras.Model) -> None:
    """Forget the recorded activation ranges (the next training batches record them anew)."""
    for q in activation_quantizers(model):
        q.reset_range()


@contextlib.contextmanager
def _flag(quantizers: list[FixedQuantizer], name: str):
    """Inside the block, the boolean attribute ``name`` of every quantizer is True (eager calls read it)."""
    for q in quantizers:
        setattr(q, name, True)
    try:
        yield
    finally:
        for q in quantizers:
            setattr(q, name, False)


def recording(model: keras.Model):
    """Inside the block, eager inference calls record ranges and apply no overflow."""
    return _flag(activation_quantizers(model), "recording")


def _batches(x, batch_size: int):
    """``x`` (an array or a list of arrays, one per model input) in float32 batches of rows."""
    x = np.asarray(x, dtype=np.float32) if not isinstance(x, list | tuple) else [np.asarray(a, np.float32) for a in x]
    n = len(x[0]) if isinstance(x, list) else len(x)
    for start in range(0, n, batch_size):
        yield [a[start:start + batch_size] for a in x] if isinstance(x, list) else x[start:start + batch_size]


def calibrate(model: keras.Model, x, batch_size: int = 16384, margin_bits: int = 0) -> keras.Model:
    """Pass ``x`` through ``model`` once (inference mode) and set every activation range to what it produces.

    Afterwards no activation of ``x`` falls outside its representable range: the integer bits of each element
    cover the quantized values seen, plus ``margin_bits`` (see :func:`widen_ranges`). Returns the model.
    """
    connect(model)
    reset_ranges(model)
    with recording(model):
        for batch in _batches(x, batch_size):
            model(batch, training=False)
    if margin_bits:
        widen_ranges(model, margin_bits)
    return model


def widen_ranges(model: keras.Model, margin_bits: int) -> keras.Model:
    """Give every element of every wrapping activation quantizer ``margin_bits`` more integer bits.

    The range becomes the whole representable range of ``(k, i + margin_bits, f)``: values up to
    ``2**margin_bits`` times the calibrated magnitude no longer wrap. An element that may be negative but was not
    in calibration (any output that is not a relu's) also gets its sign bit. Saturating quantizers (the input
    quantizer) clip instead of wrapping and stay as they are; elements with zero bits stay pruned.
    """
    if margin_bits < 0:
        raise TriggerHGQError(f"calibration margin_bits must be >= 0, got {margin_bits}")
    for q in activation_quantizers(model):
        if q.config.overflow != "WRAP":
            continue
        k, i, f = q.kif()
        live = k + i + f > 0
        if getattr(q.layer, "activation", "linear") != "relu":
            k = ops.ones_like(k)
        top = pow2(i + float(margin_bits))
        full = ops.ones(q.shape)  # the element shape (k, i, f have it; the range may be shared over axes)
        q.set_range(ops.where(live, -k * top, q.vmin * full), ops.where(live, top - pow2(-f), q.vmax * full))
    return model


def unwrapped_predict(model: keras.Model, x, batch_size: int = 16384) -> np.ndarray:
    """The model's outputs on ``x`` (inference mode) with no wrap-around anywhere: every wrapping activation keeps
    its quantized value, as if its accumulator were wide enough; saturating ones (the input quantizer) still clip.

    The reference that tells whether wrap-around changed a prediction. Exact at any width, unlike the same model
    with wider ranges: wrapping a value in float32 loses its low bits once ``k + i + f`` exceeds 24.
    """
    with _flag([q for q in activation_quantizers(model) if q.config.overflow == "WRAP"], "unbounded"):
        return np.concatenate([ops.convert_to_numpy(model(batch, training=False))
                               for batch in _batches(x, batch_size)])


class _Probe:
    """Stands in for a layer's output quantizer: flags the rows whose quantized values leave ``[vmin, vmax]``."""

    def __init__(self, q: FixedQuantizer):
        self.q = q
        self.flags: list[np.ndarray] = []

    def __call__(self, x, training=None):
        q = self.q
        xq = ops.convert_to_numpy(q.quantize_grid(x, q.f_int()))
        out = (xq < ops.convert_to_numpy(q.vmin)) | (xq > ops.convert_to_numpy(q.vmax))
        self.flags.append(out.reshape(len(out), -1).any(axis=1))
        return q(x, training)

    def __getattr__(self, name):
        return getattr(self.q, name)


def rows_outside_ranges(model: keras.Model, x, modes: tuple[str, ...] = ("WRAP", "SAT"),
                        batch_size: int = 16384) -> np.ndarray:
    """Per row of ``x``: whether any activation quantizer (of an overflow mode in ``modes``) sees a quantized value
    outside its range ``[vmin, vmax]`` (inference mode, as deployed). A boolean array of ``len(x)`` rows.

    Right after ``calibrate(model, x_cal)`` (no margin) this is "the row leaves the calibrated range"; after a
    margin, with ``modes=("WRAP",)``, it is "the row wraps around somewhere".
    """
    layers = [layer for layer in h_layers(model) if isinstance(getattr(layer, "oq", None), FixedQuantizer)]
    probes = {layer.name: _Probe(layer.oq) for layer in layers if layer.oq.config.overflow in modes}
    for layer in layers:
        if layer.name in probes:
            object.__setattr__(layer, "oq", probes[layer.name])
    try:
        for batch in _batches(x, batch_size):
            model(batch, training=False)
    finally:
        for layer in layers:
            if layer.name in probes:
                object.__setattr__(layer, "oq", probes[layer.name].q)
    if not probes:
        return np.zeros(len(x[0]) if isinstance(x, list | tuple) else len(x), bool)
    return np.any([np.concatenate(p.flags) for p in probes.values()], axis=0)
