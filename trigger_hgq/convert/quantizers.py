"""The quantizer map: each QKeras quantizer type -> the fixed-point grid a trigger-hgq quantizer starts on.

QKeras conventions (read from qkeras 0.9.0): ``quantized_bits(bits, integer, symmetric, keep_negative, alpha)``
keeps ``bits - keep_negative - integer`` fractional bits (``integer`` excludes the sign), rounds half to even and
clips to ``[-2**integer, 2**integer - 2**-f]`` (``[0, ...]`` unsigned); ``quantized_relu(bits, integer)`` keeps
``bits - integer`` fractional bits on ``[0, 2**integer - 2**-f]``. Our quantizers reproduce them exactly with
``rounding="RND_CONV"``, ``overflow="SAT"`` and a fixed range (``FixedQuantizer.set_range``).

Exact mappings:

* weights: ``quantized_bits`` with ``alpha`` None or 1 (one grid ``2**-f`` for the tensor) and ``alpha="auto_po2"``
  (QKeras' default for kernels: a power-of-two scale per output channel, i.e. one ``f`` per channel). The
  weights are copied already quantized by QKeras itself, so the copy is on the grid by construction.
* activations: ``quantized_bits`` (``symmetric=0``, ``alpha`` None/1) and ``quantized_relu`` (no sigmoid,
  ``negative_slope=0``).

Everything else raises :class:`TriggerHGQError` naming the layer and the quantizer: ``alpha="auto"`` or another
float scale (values off any binary grid), stochastic rounding, ``qnoise_factor != 1``, ``quantized_po2`` /
``quantized_relu_po2`` (logarithmic grids), ``binary`` / ``ternary`` / ``stochastic_*`` / ``bernoulli``,
``quantized_tanh`` / ``quantized_sigmoid`` / ``quantized_ulaw`` / ``quantized_hswish`` (lookup-table functions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trigger_hgq.errors import TriggerHGQError

UNSUPPORTED_REASONS = {
    "quantized_po2": "power-of-two (logarithmic) values are not a fixed-point grid",
    "quantized_relu_po2": "power-of-two (logarithmic) values are not a fixed-point grid",
    "binary": "binary values need a sign quantizer, not a fixed-point grid",
    "stochastic_binary": "stochastic binary quantization has no fixed-point equivalent",
    "ternary": "ternary values with a learned threshold are not a fixed-point grid",
    "stochastic_ternary": "stochastic ternary quantization has no fixed-point equivalent",
    "bernoulli": "stochastic bernoulli quantization has no fixed-point equivalent",
    "quantized_tanh": "tanh needs a lookup table; bit-exact firmware supports 'linear' and 'relu' only",
    "quantized_sigmoid": "sigmoid needs a lookup table; bit-exact firmware supports 'linear' and 'relu' only",
    "quantized_ulaw": "u-law companding is not a fixed-point grid",
    "quantized_hswish": "hard-swish is not supported by trigger-hgq layers",
}


@dataclass(frozen=True)
class ActivationGrid:
    """The grid of a QKeras activation quantizer: ``relu`` first (or not), round to ``2**-f``, clip to [lo, hi]."""

    f: int
    lo: float
    hi: float
    relu: bool


def quantizer_name(quantizer) -> str:
    """Class name of a QKeras quantizer, or the name of a plain activation function."""
    if isinstance(quantizer, str):
        return quantizer
    return getattr(quantizer, "__name__", None) or type(quantizer).__name__


def _where(layer_name: str, role: str, quantizer) -> str:
    return f"layer {layer_name!r}: {role} quantizer {quantizer}"


def _check_common(quantizer, layer_name: str, role: str) -> None:
    name = quantizer_name(quantizer)
    if name in UNSUPPORTED_REASONS:
        raise TriggerHGQError(f"{_where(layer_name, role, quantizer)} cannot be converted: {UNSUPPORTED_REASONS[name]}")
    if name not in ("quantized_bits", "quantized_relu"):
        raise TriggerHGQError(f"{_where(layer_name, role, quantizer)}: unknown quantizer type {name!r}")
    if getattr(quantizer, "use_stochastic_rounding", False):
        raise TriggerHGQError(
            f"{_where(layer_name, role, quantizer)} uses stochastic rounding, which has no fixed-point equivalent"
        )
    qnoise = getattr(quantizer, "qnoise_factor", 1.0)
    if float(np.asarray(qnoise)) != 1.0:
        raise TriggerHGQError(
            f"{_where(layer_name, role, quantizer)} has qnoise_factor={float(np.asarray(qnoise))} (only 1.0 "
            "quantizes fully)"
        )


def _int(value) -> int:
    return int(np.asarray(value))


def bits_fraction(quantizer) -> int:
    """Fractional bits of ``quantized_bits``: ``bits - keep_negative - integer``."""
    return _int(quantizer.bits) - int(bool(quantizer.keep_negative)) - _int(quantizer.integer)


def weight_grid(quantizer, values: np.ndarray, layer_name: str, role: str) -> tuple[np.ndarray, np.ndarray]:
    """Quantize ``values`` with the QKeras ``quantizer`` and return them with their fractional bits.

    Returns ``(quantized values, f)`` where ``f`` broadcasts against the values (a scalar, or one per output
    channel for ``alpha="auto_po2"``).
    """
    _check_common(quantizer, layer_name, role)
    if quantizer_name(quantizer) != "quantized_bits":
        raise TriggerHGQError(f"{_where(layer_name, role, quantizer)}: only quantized_bits maps onto weights")
    unsigned_bits = _int(quantizer.bits) - int(bool(quantizer.keep_negative))
    if unsigned_bits <= 0:
        raise TriggerHGQError(
            f"{_where(layer_name, role, quantizer)}: a 1-bit quantized_bits is a binary (sign) quantizer, "
            "not a fixed-point grid"
        )
    alpha = quantizer.alpha
    if isinstance(alpha, str) and alpha != "auto_po2":
        raise TriggerHGQError(
            f"{_where(layer_name, role, quantizer)}: alpha={alpha!r} scales each channel by an arbitrary float, "
            "so the weights lie on no binary grid (use alpha=1 or 'auto_po2')"
        )
    if alpha is not None and not isinstance(alpha, str) and float(np.asarray(alpha)) != 1.0:
        raise TriggerHGQError(
            f"{_where(layer_name, role, quantizer)}: alpha={alpha!r} is not supported (use alpha=1 or 'auto_po2')"
        )
    quantized = np.asarray(quantizer(np.asarray(values, np.float32)), np.float32)
    f = np.asarray(bits_fraction(quantizer), np.float64)
    if alpha == "auto_po2":
        # QKeras returns scale * integer with scale = po2 * 2**(bits - keep_negative); the grid is po2 * 2**integer
        scale = np.asarray(quantizer.scale, np.float64)
        grid = scale * 2.0 ** _int(quantizer.integer) / 2.0**unsigned_bits
        f = -np.log2(grid)
        if not np.allclose(f, np.round(f)):
            raise TriggerHGQError(f"{_where(layer_name, role, quantizer)}: auto_po2 scale is not a power of two")
        f = np.round(f)
        # a channel quantized to all zeros has a degenerate scale: give it the nominal bits instead
        axes = tuple(range(quantized.ndim - 1))
        dead = np.all(quantized == 0, axis=axes, keepdims=True) if quantized.ndim > 1 else quantized == 0
        f = np.where(dead, float(bits_fraction(quantizer)), f)
    if not np.array_equal(quantized, np.round(quantized * 2.0**f) / 2.0**f):
        raise TriggerHGQError(f"{_where(layer_name, role, quantizer)}: quantized values are not on the 2**-f grid")
    return quantized, f


def activation_grid(quantizer, layer_name: str, role: str = "activation") -> ActivationGrid:
    """The exact grid of a QKeras activation quantizer (``quantized_bits`` or ``quantized_relu``)."""
    _check_common(quantizer, layer_name, role)
    integer = _int(quantizer.integer)
    if quantizer_name(quantizer) == "quantized_relu":
        if quantizer.use_sigmoid:
            raise TriggerHGQError(f"{_where(layer_name, role, quantizer)}: use_sigmoid has no fixed-point equivalent")
        if quantizer.negative_slope:
            raise TriggerHGQError(
                f"{_where(layer_name, role, quantizer)}: negative_slope (leaky relu) is not supported "
                "(bit-exact firmware supports 'linear' and 'relu')"
            )
        f = _int(quantizer.bits) - integer
        hi = 2.0**integer - 2.0**-f
        bound = getattr(quantizer, "relu_upper_bound", None)
        if bound is not None and not getattr(quantizer, "is_quantized_clip", True) and bound < hi:
            raise TriggerHGQError(
                f"{_where(layer_name, role, quantizer)}: relu_upper_bound={bound} clips inside the grid's range"
            )
        return ActivationGrid(f=f, lo=0.0, hi=hi, relu=True)
    if quantizer.alpha is not None and (isinstance(quantizer.alpha, str) or float(quantizer.alpha) != 1.0):
        raise TriggerHGQError(
            f"{_where(layer_name, role, quantizer)}: alpha={quantizer.alpha!r} scales activations off the binary "
            "grid (use alpha=None or 1)"
        )
    if quantizer.symmetric:
        raise TriggerHGQError(
            f"{_where(layer_name, role, quantizer)}: symmetric=1 drops the most negative code, which a "
            "two's-complement range cannot reproduce"
        )
    unsigned_bits = _int(quantizer.bits) - int(bool(quantizer.keep_negative))
    if unsigned_bits <= 0:
        raise TriggerHGQError(f"{_where(layer_name, role, quantizer)}: a 1-bit quantized_bits is a sign function")
    f = unsigned_bits - integer
    lo = -(2.0**integer) if quantizer.keep_negative else 0.0
    return ActivationGrid(f=f, lo=lo, hi=2.0**integer - 2.0**-f, relu=False)

