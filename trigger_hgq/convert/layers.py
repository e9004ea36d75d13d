"""The layer map: one conversion function per Keras / QKeras layer type.

Each function builds the trigger-hgq layer, calls it on the converted inputs, copies the weights, and sets the
starting bits and activation ranges. Ranges come from interval arithmetic on the value bounds of the inputs
(:class:`Bounds`), so before any training the converted model never overflows for inputs inside the input
quantizer's range. An output quantizer that is not taken from a QKeras quantizer is *transparent* when the
layer's weights come from QKeras quantizers: its grid is fine enough (``f_in + f_weights``) to hold every result
exactly, as QKeras computes it in float.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

import trigger_hgq.layers as hl
from trigger_hgq.convert.graph import Node
from trigger_hgq.convert.quantizers import ActivationGrid, weight_grid
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.padding import window_padding
from trigger_hgq.quantizer import UNPRICED_F_MAX, FixedQuantizer, QuantizerConfig


@dataclass
class Options:
    """Conversion settings (see :func:`trigger_hgq.convert.from_qkeras`)."""

    input_quantizer: dict = field(default_factory=dict)
    input_range: tuple[float, float] = (-32.0, 32.0 - 2.0**-10)  # ap_fixed<16,6>, hls4ml's default input type
    float_weight_f: int = 8
    float_activation_f: int = 8
    quantizer: dict = field(default_factory=dict)
    beta: float = 0.0
    keep_batchnorm: bool = False
    rounding: str | None = None  # force this rounding on every quantizer (else QKeras' own: RND_CONV)
    chosen_inputs: dict = field(default_factory=dict)  # filled by convert_input: input name -> its type, in words


@dataclass
class Bounds:
    """Elementwise value bounds of a tensor (no batch axis) and the fractional bits of the grid it lies on."""

    lo: np.ndarray
    hi: np.ndarray
    f: float


# ------------------------------------------------------------------------------------------------ helpers
def qconfig(opts: Options, init_f, rounding: str | None = None, overflow: str | None = None,
            where: str = "converted quantizer", unpriced: bool = False) -> QuantizerConfig:
    """A quantizer config from the user's defaults, starting at ``init_f`` fractional bits (the largest of an
    array; the clip range ``[f_min, f_max]`` is widened to hold all of them). ``unpriced`` (biases and layer
    outputs) caps the fractional bits at :data:`UNPRICED_F_MAX` unless the user's defaults set ``f_max``, as the
    layers themselves do."""
    f_values = np.asarray(init_f, np.float64)
    values = {**opts.quantizer, "init_f": float(f_values.max())}
    if opts.rounding or rounding:
        values["rounding"] = opts.rounding or rounding
    if overflow:
        values["overflow"] = overflow
    cfg = QuantizerConfig.from_any(values, where, **({"f_max": UNPRICED_F_MAX} if unpriced else {}))
    cfg.f_max = max(cfg.f_max, float(f_values.max()))
    cfg.f_min = min(cfg.f_min, float(f_values.min()))
    return cfg


def assign_f(q: FixedQuantizer, f) -> None:
    """Set the fractional bits of ``q`` (broadcast to its elements; the max where its granularity is coarser)."""
    full = np.broadcast_to(np.asarray(f, np.float64), q.shape)
    axes = tuple(i for i, (n, m) in enumerate(zip(q.f.shape, full.shape, strict=True)) if n == 1 and m != 1)
    reduced = full.max(axis=axes, keepdims=True) if axes else full
    q.f.assign(np.broadcast_to(reduced, q.f.shape).astype(np.float32) / q.config.lr_scale)


def set_range(q: FixedQuantizer, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fix the range of an activation quantizer; returns the value bounds it lets through."""
    q.set_range(lo.astype(np.float32), hi.astype(np.float32))
    k, i, f = (np.asarray(keras.ops.convert_to_numpy(t), np.float64) for t in q.kif())
    eff_lo = -k * 2.0**i
    eff_hi = 2.0**i - 2.0**-f
    zero = (k + i + f) <= 0
    eff_lo, eff_hi = np.where(zero, 0.0, eff_lo), np.where(zero, 0.0, eff_hi)
    return np.clip(lo, eff_lo, eff_hi), np.clip(hi, eff_lo, eff_hi)


def _margin(f: float) -> float:
    return 2.0 ** -float(f)


def _output_quantizer(grid: ActivationGrid | None, opts: Options, exact_f: float | None, where: str):
    """Output quantizer config: the QKeras grid, else transparent (``exact_f``), else the float default."""
    if grid is not None:
        return qconfig(opts, grid.f, "RND_CONV", "SAT", where, unpriced=True)
    if exact_f is not None:
        return qconfig(opts, exact_f, "RND_CONV", "WRAP", where, unpriced=True)
    return qconfig(opts, opts.float_activation_f, None, "WRAP", where, unpriced=True)


def _finish(layer: hl.HQuantizedLayer, lo, hi, grid: ActivationGrid | None, f: float) -> Bounds:
    """Set the output range of ``layer`` given the bounds ``[lo, hi]`` of the values it quantizes.

    A QKeras grid fixes the range to the grid's own (so the quantizer saturates exactly where QKeras clips);
    otherwise the range is the bounds widened by one step (transparent: nothing overflows).
    """
    if grid is not None:
        set_range(layer.oq, np.full_like(lo, grid.lo), np.full_like(hi, grid.hi))
        return Bounds(np.clip(lo, grid.lo, grid.hi), np.clip(hi, grid.lo, grid.hi), float(grid.f))
    lo, hi = set_range(layer.oq, lo - _margin(f), hi + _margin(f))
    return Bounds(lo, hi, float(f))


def _act_name(activation) -> str:
    if isinstance(activation, ActivationGrid):
        return "relu" if activation.relu else "linear"
    return activation


def _apply_act(lo, hi, activation):
    if _act_name(activation) == "relu":
        return np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    return lo, hi


# ------------------------------------------------------------------------------------------------ input
def convert_input(name: str, shape: tuple, grid: ActivationGrid | None, opts: Options, per_particle: bool = False):
    """A model input and its quantizer (a QKeras input quantizer's grid, else ``opts.input_quantizer``);
    ``per_particle``: one width per feature, shared by the particles (see :class:`~trigger_hgq.layers.HQuantize`)."""
    inp = keras.Input(shape, name=name)
    if grid is not None:
        cfg = qconfig(opts, grid.f, "RND_CONV", "SAT", f"input {name!r}", unpriced=True)
        lo, hi = grid.lo, grid.hi
    else:
        values = {**opts.quantizer, "overflow": "SAT", **opts.input_quantizer}
        cfg = QuantizerConfig.from_any(values, f"input {name!r} input_quantizer", f_max=UNPRICED_F_MAX)
        cfg.f_max = max(cfg.f_max, cfg.init_f)
        lo, hi = opts.input_range
    layer = hl.HQuantize(output_quantizer=cfg, beta=opts.beta, name=f"{name}_quantizer",
                         per_particle=per_particle or None)
    out = layer(inp)
    f = float(np.round(cfg.init_f))
    lo_b, hi_b = set_range(layer.oq, np.full(shape, lo, np.float64), np.full(shape, hi, np.float64))
    if grid is None:  # the input quantizer saturates to its full representable range, not to input_range
        k, i, _ = (np.asarray(keras.ops.convert_to_numpy(t), np.float64) for t in layer.oq.kif())
        lo_b, hi_b = -k * 2.0**i, 2.0**i - 2.0**-f
        signed, integer = bool(k.max()), int(i.max() + k.max())
        kind = "ap_fixed" if signed else "ap_ufixed"
        opts.chosen_inputs[name] = (f"{kind}<{integer + int(f)},{integer}> ({cfg.rounding}, {cfg.overflow}): "
                                    f"inserted input quantizer")
    else:
        opts.chosen_inputs[name] = f"{grid.f:g} fractional bits: the QKeras input quantizer"
    return inp, out, Bounds(lo_b, hi_b, f)


# ------------------------------------------------------------------------------------------------ dense/conv
def _weights(node: Node, opts: Options):
    """Kernel and bias values, their fractional bits, and whether they are QKeras-exact."""
    layer = node.layer
    kernel = _numpy(layer.kernel)
    bias = _numpy(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
    kq = getattr(layer, "kernel_quantizer_internal", None) if getattr(layer, "kernel_quantizer", None) else None
    bq = getattr(layer, "bias_quantizer_internal", None) if getattr(layer, "bias_quantizer", None) else None
    exact = kq is not None
    if kq is not None:
        kernel, f_k = weight_grid(kq, kernel, node.name, "kernel")
    else:
        f_k = np.asarray(float(opts.float_weight_f))
    if bq is not None and layer.use_bias:
        bias, f_b = weight_grid(bq, bias, node.name, "bias")
    else:
        f_b = np.asarray(float(opts.float_weight_f))
        exact = exact and not layer.use_bias
    return kernel, bias, f_k, f_b, exact


def _numpy(value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value), np.float32)


def _batchnorm_params(bn: keras.layers.Layer, node_name: str):
    """(gamma, beta, mean, variance, epsilon) of a (Q)BatchNormalization, through its quantizers if any."""
    axis = bn.axis if isinstance(bn.axis, list | tuple) else [bn.axis]
    rank = len(bn.input.shape)
    if [a % rank for a in axis] != [rank - 1]:
        raise TriggerHGQError(f"layer {bn.name!r}: BatchNormalization over axis {bn.axis} (only the last is folded)")
    n = bn.moving_mean.shape[0]
    params = {
        "gamma": _numpy(bn.gamma) if bn.scale else np.ones(n, np.float32),
        "beta": _numpy(bn.beta) if bn.center else np.zeros(n, np.float32),
        "mean": _numpy(bn.moving_mean),
        "variance": _numpy(bn.moving_variance),
    }
    for key in params:
        quantizer = getattr(bn, f"{key}_quantizer_internal", None)
        if quantizer is not None and getattr(bn, f"{key}_quantizer", None):
            if getattr(quantizer, "use_stochastic_rounding", False):
                raise TriggerHGQError(f"layer {bn.name!r}: {key} quantizer {quantizer} uses stochastic rounding")
            if (key == "gamma" and not bn.scale) or (key == "beta" and not bn.center):
                continue
            params[key] = _numpy(quantizer(params[key]))
    if getattr(bn, "activation", None) not in (None, "linear"):
        raise TriggerHGQError(f"layer {bn.name!r}: QBatchNormalization with an activation is not supported")
    return params["gamma"], params["beta"], params["mean"], params["variance"], float(bn.epsilon)


def _kernel_spec(node: Node) -> tuple[type, dict]:
    layer, kind = node.layer, node.kind
    if kind.endswith("Dense"):
        return hl.HDense, {"units": layer.units}
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise TriggerHGQError(f"layer {node.name!r}: data_format={layer.data_format!r} (only channels_last)")
    if any(int(d) != 1 for d in layer.dilation_rate):
        raise TriggerHGQError(f"layer {node.name!r}: dilation_rate={layer.dilation_rate} is not supported")
    if int(getattr(layer, "groups", 1)) != 1:
        raise TriggerHGQError(f"layer {node.name!r}: grouped convolutions are not supported")
    cls = hl.HConv1D if kind.endswith("1D") else hl.HConv2D
    return cls, {"filters": layer.filters, "kernel_size": layer.kernel_size, "strides": layer.strides,
                 "padding": layer.padding}


def windows(x: np.ndarray, window: tuple[int, ...], strides: tuple[int, ...], padding: str,
            fill: float = 0.0) -> np.ndarray:
    """Windows of ``x`` (spatial..., channels) as ``(*out_spatial, *window, channels)``, padded with ``fill`` as
    Keras pads for ``padding`` (``valid`` or ``same``)."""
    spatial = x.shape[:-1]
    pads, out_sizes = window_padding(spatial, window, strides, padding)
    padded = np.pad(x, [*pads, (0, 0)], constant_values=fill)
    out = np.empty((*out_sizes, *window, x.shape[-1]), x.dtype)
    for pos in np.ndindex(*out_sizes):
        out[pos] = padded[tuple(slice(p * s, p * s + k) for p, s, k in zip(pos, strides, window, strict=True))]
    return out


def conv_numpy(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, ...], padding: str) -> np.ndarray:
    """Channels-last convolution of one sample ``x`` (spatial..., c_in) with ``kernel`` (window..., c_in, c_out)."""
    w = windows(x, tuple(kernel.shape[:-2]), strides, padding)
    n_out = w.ndim - kernel.ndim + 1
    return w.reshape(*w.shape[:n_out], -1) @ kernel.reshape(-1, kernel.shape[-1])


def _interval_linear(layer: hl.HKernelLayer, inb: Bounds, kernel: np.ndarray, bias: np.ndarray):
    """Elementwise bounds of ``x (*) kernel + bias`` for ``x`` in ``[inb.lo, inb.hi]``."""
    pos, neg = np.maximum(kernel, 0.0), np.minimum(kernel, 0.0)
    if isinstance(layer, hl.HDense):
        lo = inb.lo @ pos + inb.hi @ neg
        hi = inb.hi @ pos + inb.lo @ neg
    else:
        strides, padding = tuple(layer.strides), layer.padding

        def conv(x, k):
            return conv_numpy(x, k, strides, padding)

        lo = conv(inb.lo, pos) + conv(inb.hi, neg)
        hi = conv(inb.hi, pos) + conv(inb.lo, neg)
    return lo + bias, hi + bias


def convert_kernel_layer(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    """Dense/QDense/Conv1D/QConv1D/Conv2D/QConv2D (+ folded BatchNormalization, + fused activation)."""
    (x,), (inb,) = inputs, bounds
    cls, args = _kernel_spec(node)
    kernel, bias, f_k, f_b, exact = _weights(node, opts)
    weight_rounding = "RND_CONV" if exact else None
    bn_weights = None
    if node.batchnorm is not None:
        gamma, beta, mean, var, eps = _batchnorm_params(node.batchnorm, node.name)
        f_k = f_b = np.asarray(float(opts.float_weight_f))
        exact = False
        if opts.keep_batchnorm:
            cls = {hl.HDense: hl.HDenseBatchNorm, hl.HConv1D: hl.HConv1DBatchNorm, hl.HConv2D: hl.HConv2DBatchNorm}[cls]
            args.update(epsilon=eps, momentum=float(node.batchnorm.momentum))
            bn_weights = (gamma, beta, mean, var)
        else:
            scale = gamma / np.sqrt(var + eps)
            kernel, bias = kernel * scale, (bias - mean) * scale + beta
    grid = node.activation if isinstance(node.activation, ActivationGrid) else None
    exact_f = float(inb.f + np.max(f_k)) if exact else None
    if exact_f is not None:
        exact_f = max(exact_f, float(np.max(f_b)))
    layer = cls(
        **args,
        activation=_act_name(node.activation),
        kernel_quantizer=qconfig(opts, f_k, weight_rounding, None, f"layer {node.name!r} kernel"),
        bias_quantizer=qconfig(opts, f_b, weight_rounding, None, f"layer {node.name!r} bias", unpriced=True),
        output_quantizer=_output_quantizer(grid, opts, exact_f, f"layer {node.name!r} output"),
        beta=opts.beta,
        name=node.name,
    )
    y = layer(x)
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    if bn_weights is not None:
        for var, value in zip((layer.gamma, layer.offset, layer.moving_mean, layer.moving_var), bn_weights,
                              strict=True):
            var.assign(value)
    assign_f(layer.kq, f_k)
    assign_f(layer.bq, f_b)
    k_eff, b_eff = layer.quantized_weights()
    lo, hi = _apply_act(*_interval_linear(layer, inb, k_eff.astype(np.float64), b_eff.astype(np.float64)),
                        node.activation)
    return y, _finish(layer, lo, hi, grid, layer.output_quantizer.init_f)


# ------------------------------------------------------------------------------------------------ others
def convert_activation(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    """QActivation / Activation / ReLU not fused into a dense/conv layer."""
    (x,), (inb,) = inputs, bounds
    grid = node.activation if isinstance(node.activation, ActivationGrid) else None
    layer = hl.HActivation(
        activation=_act_name(node.activation),
        output_quantizer=_output_quantizer(grid, opts, inb.f, f"layer {node.name!r} output"),
        beta=opts.beta,
        name=node.name,
    )
    y = layer(x)
    lo, hi = _apply_act(inb.lo, inb.hi, node.activation)
    return y, _finish(layer, lo, hi, grid, inb.f)


def _pool_args(node: Node) -> dict:
    layer = node.layer
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise TriggerHGQError(f"layer {node.name!r}: data_format={layer.data_format!r} (only channels_last)")
    return {"pool_size": layer.pool_size, "strides": layer.strides, "padding": layer.padding, "name": node.name}


def _pool_bounds(layer, inb: Bounds, op: str):
    """Bounds after a ``valid`` max or average pooling (both monotonic in every input)."""
    pool_size, strides = tuple(layer.pool_size), tuple(layer.strides)

    def pool(x):
        w = windows(x, pool_size, strides, "valid")  # (*out, *window, channels)
        w = w.reshape(*w.shape[:-len(pool_size) - 1], -1, w.shape[-1])
        return w.max(axis=-2) if op == "MAX" else w.mean(axis=-2)

    return pool(inb.lo), pool(inb.hi)


def convert_max_pooling(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    (x,), (inb,) = inputs, bounds
    cls = hl.HMaxPooling1D if node.kind.endswith("1D") else hl.HMaxPooling2D
    layer = cls(**_pool_args(node))
    y = layer(x)
    lo, hi = _pool_bounds(layer, inb, "MAX")
    return y, Bounds(lo, hi, inb.f)


def convert_average_pooling(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    (x,), (inb,) = inputs, bounds
    cls = hl.HAveragePooling1D if node.kind.endswith("1D") else hl.HAveragePooling2D
    args = _pool_args(node)
    f = inb.f + float(np.log2(np.prod(args["pool_size"])))  # exact for the power-of-two areas HAveragePooling takes
    layer = cls(**args, output_quantizer=qconfig(opts, f, "RND_CONV", "WRAP", f"layer {node.name!r} output",
                                                         unpriced=True),
                beta=opts.beta)
    y = layer(x)
    lo, hi = _pool_bounds(layer, inb, "AVG")
    return y, _finish(layer, lo, hi, None, f)


def convert_global_average_pooling(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    """GlobalAveragePooling1D: the mean over a power-of-two number of steps (particles), kept exact."""
    (x,), (inb,) = inputs, bounds
    if getattr(node.layer, "data_format", "channels_last") != "channels_last":
        raise TriggerHGQError(f"layer {node.name!r}: data_format={node.layer.data_format!r} (only channels_last)")
    if getattr(node.layer, "keepdims", False):
        raise TriggerHGQError(f"layer {node.name!r}: keepdims=True is not supported")
    f = inb.f + float(np.log2(inb.lo.shape[0]))  # a shift: exact for the power-of-two steps the layer takes
    layer = hl.HGlobalAveragePooling1D(
        output_quantizer=qconfig(opts, f, "RND_CONV", "WRAP", f"layer {node.name!r} output", unpriced=True),
        beta=opts.beta, name=node.name)
    y = layer(x)
    return y, _finish(layer, inb.lo.mean(axis=0), inb.hi.mean(axis=0), None, f)


def convert_flatten(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    (x,), (inb,) = inputs, bounds
    y = hl.HFlatten(name=node.name)(x)
    return y, Bounds(inb.lo.reshape(-1), inb.hi.reshape(-1), inb.f)


def convert_reshape(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    (x,), (inb,) = inputs, bounds
    layer = hl.HReshape(node.layer.target_shape, name=node.name)
    y = layer(x)
    shape = tuple(int(d) for d in y.shape[1:])
    return y, Bounds(inb.lo.reshape(shape), inb.hi.reshape(shape), inb.f)


def convert_permute(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    (x,), (inb,) = inputs, bounds
    dims = tuple(int(d) for d in node.layer.dims)
    axes = [d - 1 for d in dims]
    return hl.HPermute(dims, name=node.name)(x), Bounds(inb.lo.transpose(axes), inb.hi.transpose(axes), inb.f)


def convert_concatenate(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    axis = int(node.layer.axis)
    layer = hl.HConcatenate(axis, name=node.name)
    data_axis = layer.data_axis()
    y = layer(list(inputs))
    return y, Bounds(np.concatenate([b.lo for b in bounds], axis=data_axis),
                     np.concatenate([b.hi for b in bounds], axis=data_axis), max(b.f for b in bounds))


def convert_dropout(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    (x,), (inb,) = inputs, bounds
    layer = node.layer
    return hl.HDropout(layer.rate, seed=layer.seed, name=node.name)(x), inb


def convert_add(node: Node, inputs: list, bounds: list[Bounds], opts: Options):
    f = max(b.f for b in bounds)
    layer = hl.HAdd(output_quantizer=qconfig(opts, f, "RND_CONV", "WRAP", f"layer {node.name!r} output",
                                                         unpriced=True),
                    beta=opts.beta, name=node.name)
    y = layer(list(inputs))
    lo = sum(b.lo for b in bounds)
    hi = sum(b.hi for b in bounds)
    return y, _finish(layer, lo, hi, None, f)


Converter = Callable[[Node, list, list, Options], tuple]

LAYER_MAP: dict[str, Converter] = {
    "Dense": convert_kernel_layer,
    "QDense": convert_kernel_layer,
    "Conv1D": convert_kernel_layer,
    "QConv1D": convert_kernel_layer,
    "Conv2D": convert_kernel_layer,
    "QConv2D": convert_kernel_layer,
    "QActivation": convert_activation,
    "Activation": convert_activation,
    "ReLU": convert_activation,
    "MaxPooling1D": convert_max_pooling,
    "MaxPooling2D": convert_max_pooling,
    "AveragePooling1D": convert_average_pooling,
    "AveragePooling2D": convert_average_pooling,
    "GlobalAveragePooling1D": convert_global_average_pooling,
    "Flatten": convert_flatten,
    "Reshape": convert_reshape,
    "Permute": convert_permute,
    "Concatenate": convert_concatenate,
    "Dropout": convert_dropout,
    "Add": convert_add,
}
"""Layer type name -> conversion function. (Q)BatchNormalization is folded (see :mod:`.graph`), never mapped."""
