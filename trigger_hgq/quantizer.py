"""The fixed-point quantizer with trainable fractional bits (the heart of HGQ).

Every quantized tensor owns one :class:`FixedQuantizer`. Its state lives in Keras weights of the owning layer
(so it is saved and reloaded with the model):

* ``f`` (trainable, float): fractional bits, one per element by default (or per channel / per tensor). The
  forward pass uses ``round(f)`` (half up), with a straight-through gradient.
* ``vmin``/``vmax`` (activations only, per element): the range of quantized values seen (running min/max while
  training, exact after :func:`trigger_hgq.calibration`). Integer bits and sign follow from it.

Weights take their integer bits and sign from each quantized value itself: a weight quantized to zero has zero
bits (it is pruned).

Number format: an element with sign bit ``k`` (0/1), integer bits ``i`` (without the sign) and fractional bits
``f`` has ``b = k + i + f`` bits and represents ``[-k * 2**i, 2**i - 2**-f]`` on the grid ``2**-f``; this is
``ap_fixed<b, k + i>`` (``ap_ufixed`` when ``k = 0``). ``b <= 0`` means the element is constant zero.

Gradients: straight-through for ``x``; for ``f`` the HGQ surrogate ``d q / d f = -ln(2) * (q(x) - x)`` (the
quantization error treated as scaling like ``2**-f``), summed over the batch. They are written with
``stop_gradient`` terms that are exactly zero in the forward pass, so the forward value is the quantized value bit
for bit under every Keras backend. The bits of a weight (what the EBOPs penalty prices) have
gradient 1 w.r.t. ``f`` and, with ``magnitude_gradient``, that of :func:`magnitude_surrogate` w.r.t. the weight.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import keras
import numpy as np
from keras import ops

from trigger_hgq.backend import as_tensor
from trigger_hgq.batch_ops import batch_max, batch_sum
from trigger_hgq.errors import TriggerHGQError

ROUNDING_MODES = ("RND", "RND_CONV", "TRN")
"""RND: round half up (ap_fixed AP_RND); RND_CONV: round half to even (AP_RND_CONV); TRN: floor (AP_TRN)."""
OVERFLOW_MODES = ("WRAP", "SAT")
"""WRAP: two's-complement wrap-around (AP_WRAP); SAT: clip to the representable range (AP_SAT)."""
GRANULARITIES = ("element", "channel", "tensor")
_LN2 = math.log(2.0)
_NO_RANGE = 3.0e38  # reset value of vmin (and -vmax): "nothing seen yet"
UNPRICED_F_MAX = 12.0
"""Default cap on the fractional bits of quantizers that cost no EBOPs: biases and layer outputs (a model's logits
feed no multiplication). Nothing pulls their bits down, so over long schedules they random-walk upwards under the
surrogate gradient: measured f = 18 on a bias after 1000 epochs, an accumulator too wide for exact float32
arithmetic (C simulation 0% equal to Keras). 12 bits stay far below the 24-bit float32 mantissa together with the
integer bits; QKeras conversions widen the cap where their grids need more."""


@dataclass
class QuantizerConfig:
    """Settings of one quantizer (plain data; stored in the owning layer's config).

    Attributes:
        init_f: starting fractional bits.
        granularity: one ``f`` per ``element``, per ``channel`` (last axis) or per ``tensor``.
        rounding: one of :data:`ROUNDING_MODES`.
        overflow: one of :data:`OVERFLOW_MODES` (activations only; weights never overflow).
        f_min, f_max: clip range of the fractional bits.
        trainable: whether ``f`` is trained.
        lr_scale: ``f`` is stored divided by this factor, so the optimizer moves it ``lr_scale`` times faster
            than the weights. Default 10: bits must travel several units (and cross a rounding boundary at all)
            within a schedule of a few thousand steps (with 1 a short training moves no bit; the choice among
            1/10/30: ``docs/benchmarks.md``).
        magnitude_gradient: (weights) the bits also pass a gradient to the weight values, that of
            ``log2(1 + |w| * 2**f)`` (the weight's integer bits, made continuous): the EBOPs penalty then pulls
            weights towards zero, where they are pruned or need fewer integer bits, instead of acting on ``f``
            alone. Default on: see :func:`magnitude_surrogate`.
    """

    init_f: float = 6.0
    granularity: str = "element"
    rounding: str = "RND"
    overflow: str = "WRAP"
    f_min: float = -8.0
    f_max: float = 20.0
    trainable: bool = True
    lr_scale: float = 10.0
    magnitude_gradient: bool = True

    @classmethod
    def from_any(cls, value: QuantizerConfig | dict | None, where: str, **defaults) -> QuantizerConfig:
        """Build from a dict (unknown keys are an error naming ``where``) or pass a config through."""
        if isinstance(value, QuantizerConfig):
            return value
        merged = dict(defaults)
        for key, val in (value or {}).items():
            if key not in cls.__dataclass_fields__:
                raise TriggerHGQError(f"{where}: unknown quantizer key {key!r}")
            merged[key] = val
        if "f_max" not in (value or {}) and "init_f" in merged:  # a default cap never lowers an asked-for start
            merged["f_max"] = max(float(merged.get("f_max", cls.f_max)), float(merged["init_f"]))
        cfg = cls(**merged)
        cfg.validate(where)
        return cfg

    def validate(self, where: str) -> None:
        for name, allowed in (
            ("granularity", GRANULARITIES),
            ("rounding", ROUNDING_MODES),
            ("overflow", OVERFLOW_MODES),
        ):
            if getattr(self, name) not in allowed:
                raise TriggerHGQError(f"{where}: quantizer {name}={getattr(self, name)!r}, expected one of {allowed}")

    def to_dict(self) -> dict:
        return asdict(self)


def round_ste(x):
    """Round half up in the forward pass, identity gradient."""
    return x + ops.stop_gradient(ops.floor(x + 0.5) - x)


def pow2(x):
    """``2**x`` for integer-valued float ``x`` (exact: a power of two)."""
    return ops.power(2.0, x)


def ceil_log2(x):
    """Exact ``ceil(log2(x))`` for positive x (float log corrected against exact powers of two)."""
    guess = ops.ceil(ops.log(x) / _LN2)
    guess = ops.where(pow2(guess - 1.0) >= x, guess - 1.0, guess)
    return ops.where(pow2(guess) < x, guess + 1.0, guess)


def magnitude_surrogate(values, f_int):
    """Zero, with the gradient of ``log2(1 + |w| * 2**f)`` w.r.t. the weights ``w`` (none w.r.t. ``f``).

    A weight's bits grow with its magnitude on the ``2**-f`` grid (``ceil(log2(|n| + 1))``, ``n = w * 2**f``), but
    the ceiling has no gradient: added to the bits, this term lets the EBOPs penalty shrink the weights that cost
    bits, most strongly the small ones about to be pruned (its effect on the front: ``docs/benchmarks.md``).
    """
    r = ops.log1p(ops.abs(values) * pow2(ops.stop_gradient(f_int))) / _LN2
    return r - ops.stop_gradient(r)


def round_grid(scaled, rounding: str):
    """Round values already scaled by ``2**f`` to integers with ``rounding`` (one of :data:`ROUNDING_MODES`)."""
    if rounding == "RND":
        floor = ops.floor(scaled)  # floor + (frac >= 1/2): exact, unlike floor(scaled + 0.5) in float32
        return floor + ops.cast(scaled - floor >= 0.5, scaled.dtype)
    if rounding == "RND_CONV":
        return ops.round(scaled)  # half to even
    return ops.floor(scaled)


def weight_kif(values_q, f_int):
    """Sign bit ``k`` and integer bits ``i`` that quantized weights need, elementwise (i = -f for zeros)."""
    n = values_q * pow2(f_int)  # the integer mantissa
    k = ops.cast(n < 0, values_q.dtype)
    mag = ops.where(n < 0, -n, n + 1.0)  # bits of |n| (unsigned: ceil log2(n+1); signed: ceil log2(-n) + 1)
    bits_wo_sign = ops.where(n == 0, ops.zeros_like(n), ceil_log2(ops.maximum(mag, 1.0)))
    return k, bits_wo_sign - f_int


def range_kif(vmin, vmax, f_int):
    """Sign bit ``k`` and integer bits ``i`` covering quantized values in ``[vmin, vmax]`` with ``f_int`` bits.

    Elements never seen (``vmin > vmax``) or always zero get ``k + i + f = 0``.
    """
    vmin = ops.convert_to_tensor(vmin)
    vmax = ops.convert_to_tensor(vmax)
    seen = vmin <= vmax
    lo = ops.where(seen, ops.minimum(vmin, 0.0), 0.0)
    hi = ops.where(seen, ops.maximum(vmax, 0.0), 0.0)
    k = ops.cast(lo < 0, vmin.dtype)
    need = ops.maximum(ops.where(hi > 0, hi + pow2(-f_int), 0.0), -lo)
    i = ops.where(need > 0, ceil_log2(ops.maximum(need, 1e-38)), -f_int - k)
    return k, i


def apply_overflow(xq, k, i, f_int, mode: str):
    """Apply the representable range of ``(k, i, f)`` to values already on the ``2**-f`` grid.

    WRAP works on the integer mantissas: ``n - floor(n / 2**b) * 2**b`` is exact in float32 (powers of two and
    integers below ``2**24``), the same on every backend.
    """
    bits = k + i + f_int
    lo = -k * pow2(i)
    if mode == "SAT":
        hi = pow2(i) - pow2(-f_int)
        out = ops.minimum(ops.maximum(xq, lo), ops.maximum(hi, lo))
    else:
        scale = pow2(f_int)
        span = pow2(ops.maximum(bits, 0.0))
        lo_n = lo * scale
        n = xq * scale - lo_n
        out = (n - ops.floor(n / span) * span + lo_n) / scale
    return ops.where(bits > 0, out, ops.zeros_like(out))


class FixedQuantizer:
    """A fixed-point quantizer whose fractional bits are trained; its variables belong to ``layer``.

    A plain Python object (Keras does not track it); its variables are created with ``layer.add_weight``, so the
    layer saves, reloads and trains them.

    Args:
        layer: the owning Keras layer.
        name: prefix of the variable names (``kernel``, ``bias``, ``out``...).
        config: a :class:`QuantizerConfig`.
        is_weight: weights (integer bits from values) or activations (integer bits from recorded ranges).
    """

    def __init__(self, layer: keras.layers.Layer, name: str, config: QuantizerConfig, is_weight: bool):
        self.layer = layer
        self.name = name
        self.config = config
        self.is_weight = is_weight
        self.recording = False  # set by calibrate(): record ranges, apply no overflow
        self.nonnegative = False  # set by layers whose values cannot be negative (relu): training skips the min
        self.unbounded = False  # set by calibration.unwrapped_predict(): inference applies no overflow
        self.f = self.vmin = self.vmax = None
        self.shared_axes: tuple[int, ...] = ()

    # ----------------------------------------------------------------------------------------- variables
    def build(self, shape: tuple[int, ...], shared_axes: tuple[int, ...] = ()) -> None:
        """Create the variables for a tensor of ``shape`` (without the batch axis for activations).

        ``shared_axes``: axes along which every element has the same bits and the same range (e.g. the particle
        axis of a per-particle layer, so that the model does not depend on the order of the particles).
        """
        shape = tuple(int(s) for s in shape)
        self.shape = shape
        self.shared_axes = tuple(int(a) for a in shared_axes)
        g = self.config.granularity
        if g == "element":
            f_shape = shape
        elif g == "channel":
            f_shape = (1,) * (len(shape) - 1) + (shape[-1],)
        else:
            f_shape = (1,) * len(shape)
        f_shape = tuple(1 if a in self.shared_axes else n for a, n in enumerate(f_shape))
        range_shape = tuple(1 if a in self.shared_axes else n for a, n in enumerate(shape))
        self.f = self.layer.add_weight(
            name=f"{self.name}_f",
            shape=f_shape,
            initializer=keras.initializers.Constant(self.config.init_f / self.config.lr_scale),
            trainable=self.config.trainable,
        )
        if not self.is_weight:
            self.vmin = self.layer.add_weight(
                name=f"{self.name}_vmin", shape=range_shape,
                initializer=keras.initializers.Constant(_NO_RANGE), trainable=False,
            )
            self.vmax = self.layer.add_weight(
                name=f"{self.name}_vmax", shape=range_shape,
                initializer=keras.initializers.Constant(-_NO_RANGE), trainable=False,
            )

    def f_int(self):
        """Integer fractional bits (clipped, rounded half up; straight-through gradient), full shape."""
        f = ops.clip(self.f * self.config.lr_scale, self.config.f_min, self.config.f_max)
        return ops.broadcast_to(round_ste(f), self.shape)

    def reset_range(self) -> None:
        if self.vmin is not None:
            self.vmin.assign(ops.full(self.vmin.shape, _NO_RANGE))
            self.vmax.assign(ops.full(self.vmax.shape, -_NO_RANGE))

    def set_range(self, vmin, vmax) -> None:
        """Fix the range (e.g. from a QKeras quantizer): broadcast to the element shape, then the widest over the
        shared axes."""
        vmin = ops.broadcast_to(ops.cast(vmin, "float32"), self.shape)
        vmax = ops.broadcast_to(ops.cast(vmax, "float32"), self.shape)
        self.vmin.assign(self._shared(vmin, ops.min))
        self.vmax.assign(self._shared(vmax, ops.max))

    def _shared(self, values, reduce):
        """``values`` of the element shape reduced over the shared axes (kept as size 1)."""
        if not self.shared_axes:
            return values
        return reduce(values, axis=self.shared_axes, keepdims=True)

    # ----------------------------------------------------------------------------------------- forward
    def quantize_grid(self, x, f_int):
        """Round x onto the 2**-f grid: straight-through for x, HGQ surrogate for f (one custom gradient).

        Forward: ``round(x * 2**f) / 2**f`` exactly (powers of two). Gradients: identity w.r.t. ``x``;
        ``-ln2 * (q(x) - x)`` w.r.t. ``f`` per element, summed over the batch axis when ``x`` has one (``f_int``
        has the element shape) with :func:`~trigger_hgq.batch_ops.batch_sum`, the form XLA's CPU backend reduces
        fastest. The grid value is divided by ``2**f`` rather than multiplied by ``2**-f`` (both exact): XLA then
        computes each quantized tensor once for all its readers.
        """
        x = as_tensor(x)
        rounding = self.config.rounding
        batched = len(x.shape) > len(f_int.shape)

        @ops.custom_gradient
        def quantize(x, f_int):
            scale = pow2(f_int)
            xq = round_grid(x * scale, rounding) / scale

            def grad(*args, upstream=None):
                dy = args[0] if upstream is None else upstream
                df = dy * (-_LN2 * (xq - x))
                return dy, batch_sum(df) if batched else df

            return xq, grad

        return quantize(x, f_int)

    def __call__(self, x, training: bool | None = None):
        f_int = self.f_int()
        xq = self.quantize_grid(x, f_int)
        if self.is_weight:
            return xq
        if training or self.recording:
            self.track_range(ops.stop_gradient(xq), exact=self.recording)
            return xq
        if self.unbounded:
            return xq
        k, i = range_kif(self.vmin, self.vmax, ops.stop_gradient(f_int))
        return apply_overflow(xq, k, i, ops.stop_gradient(f_int), self.config.overflow)

    def track_range(self, xq, exact: bool) -> None:
        """Widen the running range by a batch. ``exact`` (calibration) records the true minimum; while training
        (the range only feeds the penalty's integer bits) values that cannot be negative pin the minimum at 0
        instead: ``range_kif`` gives the same bits (a range starting at or above 0 has no sign bit either way), and
        a batch reduction is one of the costliest ops of the step at large batch (:mod:`trigger_hgq.batch_ops`)."""
        if self.nonnegative and not exact:
            lo = 0.0
        else:
            lo = self._shared(-batch_max(-xq), ops.min)
        self.vmin.assign(ops.minimum(self.vmin, lo))
        self.vmax.assign(ops.maximum(self.vmax, self._shared(batch_max(xq), ops.max)))

    # ----------------------------------------------------------------------------------------- bits
    def kif(self, values=None):
        """Sign, integer and fractional bits per element, as backend tensors (no gradient). Weights need their
        ``values``."""
        f_int = ops.stop_gradient(self.f_int())
        if self.is_weight:
            k, i = weight_kif(self.quantize_grid(ops.stop_gradient(values), f_int), f_int)
        else:
            k, i = range_kif(self.vmin, self.vmax, f_int)
        return k, i, f_int

    def bits(self, values=None):
        """Differentiable bits per element: ``k + i + f`` with gradient 1 w.r.t. ``f`` (and, for weights with
        ``magnitude_gradient``, :func:`magnitude_surrogate` w.r.t. ``values``); 0 where constant zero."""
        f_int = self.f_int()
        k, i, _ = self.kif(values)
        b = f_int + ops.stop_gradient(k + i)
        if self.is_weight and self.config.magnitude_gradient:
            b = b + magnitude_surrogate(values, f_int)
        return ops.where(ops.stop_gradient(b) > 0, b, ops.zeros_like(b))

    def kif_numpy(self, values=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(k, i, f) as int arrays; ``b = k + i + f``; elements with ``b <= 0`` are set to (0, 0, 0)."""
        if values is not None:
            values = ops.convert_to_tensor(np.asarray(ops.convert_to_numpy(values), np.float32))
        k, i, f = (np.asarray(ops.convert_to_numpy(t), dtype=np.int64) for t in self.kif(values))
        zero = (k + i + f) <= 0
        return np.where(zero, 0, k), np.where(zero, 0, i), np.where(zero, 0, f)
