"""HDense: a fully connected layer with per-weight and per-output learnable bits."""

from __future__ import annotations

import tensorflow as tf

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.layers.base import register
from trigger_hgq.layers.kernel import HKernelLayer


@register
class HDense(HKernelLayer):
    """``y = oq(act(x @ kq(W) + bq(b)))`` on inputs of shape ``(batch, n_in)``.

    EBOPs: ``sum_ij bits_in[i] * bits_W[i, j]``.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def kernel_shape(self, input_shape):
        if len(input_shape) != 2:
            raise TriggerHGQError(
                f"layer {self.name!r}: HDense needs inputs of shape (batch, features), got {tuple(input_shape)}; "
                "flatten first"
            )
        return (int(input_shape[-1]), self.units)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape((input_shape[0], self.units))

    def linear(self, x, kernel):
        return tf.matmul(x, kernel)

    def ebops_linear(self, in_bits, kernel_bits):
        return tf.reduce_sum(in_bits[:, None] * kernel_bits)

    def proxy_linear(self):
        return tf.keras.layers.Dense(self.units, name=f"{self.name}_dense")

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
