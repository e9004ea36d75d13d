"""HConv1D / HConv2D: convolutions with per-weight and per-output-element learnable bits (channels last)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.layers.base import register
from trigger_hgq.layers.kernel import HKernelLayer


class HConv(HKernelLayer):
    """Base of HConv1D / HConv2D: ``y = oq(act(conv(x, kq(W)) + bq(b)))``. EBOPs sum over every output position
    and kernel element."""

    rank = 0

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = self._tuple(kernel_size, "kernel_size")
        self.strides = self._tuple(strides, "strides")
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise TriggerHGQError(f"layer {self.name!r}: padding {padding!r}, expected 'valid' or 'same'")

    def _tuple(self, value, key: str) -> tuple[int, ...]:
        values = (value,) * self.rank if isinstance(value, int) else tuple(int(v) for v in value)
        if len(values) != self.rank:
            raise TriggerHGQError(f"layer {self.name!r}: {key}={value!r} needs {self.rank} values")
        return values

    def kernel_shape(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise TriggerHGQError(
                f"layer {self.name!r}: expects inputs of rank {self.rank + 2} (batch, ..., channels), "
                f"got {tuple(input_shape)}"
            )
        return (*self.kernel_size, int(input_shape[-1]), self.filters)

    def compute_output_shape(self, input_shape):
        spatial = []
        for size, k, s in zip(input_shape[1:-1], self.kernel_size, self.strides, strict=True):
            n = -(-int(size) // s) if self.padding == "same" else (int(size) - k) // s + 1
            spatial.append(n)
        return (input_shape[0], *spatial, self.filters)

    def linear(self, x, kernel):
        return ops.conv(x, kernel, strides=self.strides, padding=self.padding)

    def ebops_linear(self, in_bits, kernel_bits):
        return ops.sum(self.linear(ops.expand_dims(in_bits, 0), kernel_bits))

    def ebops_numpy(self, in_bits, kernel_bits):
        """Per kernel offset: the input bits it meets over every output position (padding is zero bits), times
        the bits of the weights at that offset summed over the filters."""
        spatial = in_bits.shape[:-1]
        out = self.compute_output_shape((None, *spatial, in_bits.shape[-1]))[1:-1]
        pads = []
        for n, k, s, o in zip(spatial, self.kernel_size, self.strides, out, strict=True):
            total = max((o - 1) * s + k - n, 0) if self.padding == "same" else 0
            pads.append((total // 2, total - total // 2))
        padded = np.pad(in_bits, [*pads, (0, 0)])
        per_offset = kernel_bits.sum(axis=-1)  # (*kernel_size, channels_in)
        total = 0.0
        for offset in np.ndindex(*self.kernel_size):
            window = tuple(slice(d, d + (o - 1) * s + 1, s) for d, o, s in zip(offset, out, self.strides, strict=True))
            total += float(np.sum(padded[window].reshape(-1, in_bits.shape[-1]).sum(axis=0) * per_offset[offset]))
        return total

    def proxy_linear(self):
        cls = keras.layers.Conv1D if self.rank == 1 else keras.layers.Conv2D
        return cls(self.filters, self.kernel_size, strides=self.strides, padding=self.padding,
                   name=f"{self.name}_conv")

    def trace_linear(self, x, kernel, ops):
        rows = ops.patches(x, self.kernel_size, self.strides, self.padding)
        flat = rows.reshape(-1, rows.shape[-1])
        y = ops.matmul(flat, kernel.reshape(-1, kernel.shape[-1]))
        return np.asarray(y, dtype=object).reshape(*rows.shape[:-1], kernel.shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
        }


@register
class HConv1D(HConv):
    rank = 1


@register
class HConv2D(HConv):
    rank = 2


@register
class HConv1DBatchNorm(HConv1D):
    """HConv1D with the following BatchNormalization folded into its kernel and bias."""

    def __init__(self, filters: int, kernel_size, **kwargs):
        kwargs["batchnorm"] = True
        super().__init__(filters, kernel_size, **kwargs)


@register
class HConv2DBatchNorm(HConv2D):
    """HConv2D with the following BatchNormalization folded into its kernel and bias."""

    def __init__(self, filters: int, kernel_size, **kwargs):
        kwargs["batchnorm"] = True
        super().__init__(filters, kernel_size, **kwargs)
