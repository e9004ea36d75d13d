"""An independent integer reference (numpy int64 mantissas scaled by 2^f) reproduces the quantized models exactly.

The reference only reads the models' parameters (float weights, BatchNorm statistics, fractional bits, recorded
ranges) and recomputes everything in integer arithmetic: quantization with round-half-up, two's-complement
wrap or saturation, integer matrix products and convolutions, pooling and additions.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pytest
from hgq_models import BUILDERS, train_hgq

import trigger_hgq as th
from trigger_hgq.layers.base import producer_layers

N_CHECK = 10_000


def npy(t) -> np.ndarray:
    return keras.ops.convert_to_numpy(t)


@dataclass
class Fx:
    """Fixed-point tensor: value = m / 2**s (int64 mantissas, one exponent for the tensor)."""

    m: np.ndarray
    s: int

    def at(self, s: int) -> np.ndarray:
        assert s >= self.s
        return self.m << (s - self.s)

    def value(self) -> np.ndarray:
        return self.m.astype(np.float64) / 2.0**self.s


def grid_round(m: np.ndarray, shift: np.ndarray, rounding: str) -> np.ndarray:
    """Divide integers by 2**shift (shift >= 0 elementwise) with the given rounding."""
    shift = np.broadcast_to(shift, m.shape).astype(np.int64)
    floor = m >> shift
    if rounding == "TRN":
        return floor
    rem = m - (floor << shift)
    half = np.where(shift > 0, np.int64(1) << np.maximum(shift - 1, 0), 1)
    up = rem > half if rounding == "RND_CONV" else rem >= half
    tie_even = (rounding == "RND_CONV") & (rem == half) & (floor % 2 == 1)
    return floor + ((up | tie_even) & (shift > 0))


def quantize_ref(x: Fx, k, i, f, rounding: str, overflow: str | None) -> Fx:
    """Quantize onto per-element grids 2**-f, then wrap/saturate to k sign + i integer bits."""
    f = np.broadcast_to(f, x.m.shape[1:]).astype(np.int64)
    shift = x.s - f
    n = np.where(shift >= 0, grid_round(x.m, np.maximum(shift, 0), rounding), x.m << np.maximum(-shift, 0))
    if overflow is not None:
        bits = k + i + f
        lo = -(k.astype(np.int64) << np.maximum(i + f, 0)) * (bits > 0)
        hi = (np.int64(1) << np.maximum(i + f, 0)) - 1
        if overflow == "SAT":
            n = np.clip(n, lo, np.maximum(hi, lo))
        else:
            span = np.int64(1) << np.maximum(bits, 0)
            n = np.mod(n - lo, span) + lo
        n = np.where(bits > 0, n, 0)
    top = int(f.max())
    return Fx(n << (top - f), top)


def float_to_fx(x: np.ndarray, s: int = 40) -> Fx:
    """Exact fixed-point image of float32 values (float32 has 24 significant bits)."""
    return Fx(np.round(x.astype(np.float64) * 2.0**s).astype(np.int64), s)


def weights_ref(layer) -> tuple[Fx, Fx]:
    """Quantized (and BatchNorm-folded) kernel and bias, recomputed from the layer's float parameters."""
    kernel, bias = npy(layer.kernel), npy(layer.bias)
    if layer.batchnorm:
        scale = npy(layer.gamma) / np.sqrt(npy(layer.moving_var) + np.float32(layer.epsilon))
        kernel = kernel * scale
        bias = (bias - npy(layer.moving_mean)) * scale + npy(layer.offset)
    out = []
    for values, q in ((kernel, layer.kq), (bias, layer.bq)):
        f = npy(q.f_int()).astype(np.int64)
        n = np.floor(values.astype(np.float64) * 2.0**f + 0.5).astype(np.int64)
        top = int(f.max())
        out.append(Fx(n << (top - f), top))
    return out[0], out[1]


def out_quantize(layer, acc: Fx) -> Fx:
    k, i, f = layer.oq.kif()
    f_int = npy(layer.oq.f_int()).astype(np.int64)
    cfg = layer.oq.config
    return quantize_ref(acc, npy(k).astype(np.int64), npy(i).astype(np.int64), f_int, cfg.rounding,
                        cfg.overflow)


def conv_ref(x: np.ndarray, w: np.ndarray, strides, padding: str) -> np.ndarray:
    """Integer N-d convolution, channels last, TF padding conventions."""
    rank = w.ndim - 2
    spatial_in = x.shape[1:-1]
    if padding == "same":
        pads = []
        for n, k, s in zip(spatial_in, w.shape[:rank], strides, strict=True):
            out = -(-n // s)
            total = max((out - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, [(0, 0), *pads, (0, 0)])
    out_sizes = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], w.shape[:rank], strides, strict=True)]
    y = np.zeros((x.shape[0], *out_sizes, w.shape[-1]), dtype=np.int64)
    for offset in np.ndindex(*w.shape[:rank]):
        sl = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(offset, out_sizes, strides, strict=True))
        y += np.tensordot(x[(slice(None), *sl)], w[offset], axes=([-1], [0]))
    return y


def pool_windows(m: np.ndarray, pool, strides) -> np.ndarray:
    """Stack of the window elements along a new last axis."""
    rank = len(pool)
    out_sizes = [(n - k) // s + 1 for n, k, s in zip(m.shape[1:-1], pool, strides, strict=True)]
    views = []
    for offset in np.ndindex(*pool):
        sl = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(offset, out_sizes, strides, strict=True))
        views.append(m[(slice(None), *sl)])
    assert len(views) == int(np.prod(pool)) and rank == len(out_sizes)
    return np.stack(views, axis=-1)


def run_reference(model: keras.Model, x: np.ndarray) -> np.ndarray:
    values: dict[str, Fx] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            values[layer.name] = float_to_fx(x)
            continue
        ins = [values[p.name] for p in producer_layers(layer)]
        a = ins[0]
        if isinstance(layer, th.HQuantize):
            y = out_quantize(layer, a)
        elif isinstance(layer, th.HKernelLayer):
            w, b = weights_ref(layer)
            if isinstance(layer, th.HDense):
                prod = a.m @ w.m
            else:
                prod = conv_ref(a.m, w.m, layer.strides, layer.padding)
            s = max(a.s + w.s, b.s)
            acc = (prod << (s - a.s - w.s)) + b.at(s)
            if layer.activation == "relu":
                acc = np.maximum(acc, 0)
            y = out_quantize(layer, Fx(acc, s))
        elif isinstance(layer, th.HActivation):
            y = out_quantize(layer, Fx(np.maximum(a.m, 0) if layer.activation == "relu" else a.m, a.s))
        elif isinstance(layer, th.HAdd):
            s = max(t.s for t in ins)
            y = out_quantize(layer, Fx(sum(t.at(s) for t in ins), s))
        elif isinstance(layer, th.HMaxPooling1D | th.HMaxPooling2D):
            y = Fx(pool_windows(a.m, layer.pool_size, layer.strides).max(-1), a.s)
        elif isinstance(layer, th.HAveragePooling1D | th.HAveragePooling2D):
            area = int(np.prod(layer.pool_size))
            total = pool_windows(a.m, layer.pool_size, layer.strides).sum(-1)
            y = out_quantize(layer, Fx(total, a.s + area.bit_length() - 1))
        elif isinstance(layer, th.HFlatten | th.HReshape):
            y = Fx(a.m.reshape(len(x), *layer.output.shape[1:]), a.s)
        elif isinstance(layer, th.HDropout):
            y = a
        else:
            raise AssertionError(f"no reference for {type(layer).__name__}")
        values[layer.name] = y
    return values[model.layers[-1].name].value()


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def trained(request):
    return request.param, *train_hgq(request.param)


@pytest.mark.slow
def test_integer_reference_matches_model_exactly(trained):
    name, model, x_train = trained
    # fresh inputs, partly beyond the calibrated ranges, so saturation and wrap-around are exercised too
    x = np.random.default_rng(99).normal(scale=1.3, size=(N_CHECK, *x_train.shape[1:])).astype(np.float32)
    got = model.predict(x, batch_size=2048, verbose=0).astype(np.float64)
    ref = run_reference(model, x)
    equal = np.mean(got == ref)
    assert equal == 1.0, f"{name}: {equal:.6f} of outputs equal the integer reference"


@pytest.mark.slow
def test_trained_bits_differ_per_element_and_some_are_pruned(trained):
    name, model, _ = trained
    weight_bits = []
    for layer in model.layers:
        if isinstance(layer, th.HKernelLayer):
            k, i, f = layer.kq.kif_numpy(layer.folded()[0])
            weight_bits.append((k + i + f).ravel())
    bits = np.concatenate(weight_bits)
    assert len(np.unique(bits)) >= 3, f"{name}: weight bits {np.unique(bits)}"
    assert np.any(bits == 0), f"{name}: no pruned weight"
