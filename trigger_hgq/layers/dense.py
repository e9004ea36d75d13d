"""HDense: a fully connected layer with per-weight and per-output learnable bits."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.layers.base import register
from trigger_hgq.layers.kernel import HKernelLayer


@register
class HDense(HKernelLayer):
    """``y = oq(act(x @ kq(W) + bq(b)))`` on inputs ``(batch, n_in)`` or, per particle, ``(batch, particles, n_in)``.

    On a particle axis the weights are shared by every particle (as Keras ``Dense`` does on rank-3 inputs; hls4ml
    builds it as a pointwise 1D convolution), and by default so are the output bits and ranges (``per_particle``).
    EBOPs: ``sum_pij bits_in[p, i] * bits_W[i, j]``, counted for every particle position ``p``.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def kernel_shape(self, input_shape):
        if len(input_shape) not in (2, 3):
            raise TriggerHGQError(
                f"layer {self.name!r}: HDense needs inputs (batch, features) or (batch, particles, features), got "
                f"{tuple(input_shape)}; flatten first"
            )
        return (int(input_shape[-1]), self.units)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def particle_default(self, input_shape) -> bool:
        return len(input_shape) == 3  # per particle: every particle gets the same bits (order-independent)

    def linear(self, x, kernel):
        if len(x.shape) == 2:
            return ops.matmul(x, kernel)
        return ops.tensordot(x, kernel, axes=[[2], [0]])  # the same weights for every particle

    def ebops_linear(self, in_bits, kernel_bits):
        return ops.sum(ops.expand_dims(in_bits, -1) * kernel_bits)

    def ebops_numpy(self, in_bits, kernel_bits):
        return float(np.sum(in_bits * kernel_bits.sum(axis=-1)))

    def proxy_linear(self):
        return keras.layers.Dense(self.units, name=f"{self.name}_dense")

    def trace_linear(self, x, kernel, ops):
        return ops.matmul(x, kernel)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register
class HDenseBatchNorm(HDense):
    """HDense with the following BatchNormalization folded into its kernel and bias."""

    def __init__(self, units: int, **kwargs):
        kwargs["batchnorm"] = True
        super().__init__(units, **kwargs)
