"""Layers with a quantized kernel and bias (dense, convolutions), optionally with BatchNormalization folded in.

Forward: ``y = oq(act(x (*) kq(W) + bq(b)))``. With ``batchnorm=True`` the BatchNormalization that follows the
linear operation is folded into ``W`` and ``b`` before quantization (batch statistics while training, moving
statistics otherwise), so the quantized, folded weights are exactly what the firmware multiplies with.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from trigger_hgq.batch_ops import add_bias
from trigger_hgq.layers.base import HQuantizedLayer, activation_fn
from trigger_hgq.quantizer import UNPRICED_F_MAX, FixedQuantizer, QuantizerConfig


class HKernelLayer(HQuantizedLayer):
    """Base for HDense / HConv*: subclasses define the kernel shape, the linear op and its EBOPs."""

    has_ebops = True

    def __init__(
        self,
        activation: str | None = "linear",
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_quantizer=None,
        bias_quantizer=None,
        batchnorm: bool = False,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.activation = activation or "linear"
        self._act = activation_fn(self.activation, self.name)
        self.oq.nonnegative = self.activation == "relu"  # lets training track the max alone
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_quantizer = QuantizerConfig.from_any(kernel_quantizer, f"layer {self.name!r} kernel_quantizer")
        self.bias_quantizer = QuantizerConfig.from_any(bias_quantizer, f"layer {self.name!r} bias_quantizer",
                                                       f_max=UNPRICED_F_MAX)
        self.batchnorm = bool(batchnorm)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.kq = FixedQuantizer(self, "kernel", self.kernel_quantizer, is_weight=True)
        self.bq = FixedQuantizer(self, "bias", self.bias_quantizer, is_weight=True)

    # ---------------------------------------------------------------------------------- subclass hooks
    def kernel_shape(self, input_shape) -> tuple[int, ...]:
        raise NotImplementedError

    def linear(self, x, kernel):
        raise NotImplementedError

    def ebops_linear(self, in_bits, kernel_bits):
        """Sum over every multiplication of (input element bits) x (weight bits), differentiable (keras.ops)."""
        raise NotImplementedError

    def ebops_numpy(self, in_bits: np.ndarray, kernel_bits: np.ndarray) -> float:
        """The same sum as :meth:`ebops_linear` on float64 NumPy arrays (exact)."""
        raise NotImplementedError

    def proxy_linear(self) -> keras.layers.Layer:
        """The plain Keras layer of the linear operation (weights set by the proxy builder)."""
        raise NotImplementedError

    def trace_linear(self, x: np.ndarray, kernel: np.ndarray, ops) -> np.ndarray:
        """The linear operation on an object array of da4ml variables (see :meth:`HLayer.trace`)."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------- build / call
    def build_weights(self, input_shape):
        kshape = self.kernel_shape(input_shape)
        n_out = kshape[-1]
        self.kernel = self.add_weight(name="kernel", shape=kshape, initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(n_out,), initializer=self.bias_initializer,
                                    trainable=self.use_bias)
        if self.batchnorm:
            self.gamma = self.add_weight(name="bn_gamma", shape=(n_out,), initializer="ones")
            self.offset = self.add_weight(name="bn_beta", shape=(n_out,), initializer="zeros")
            self.moving_mean = self.add_weight(name="bn_moving_mean", shape=(n_out,), initializer="zeros",
                                               trainable=False)
            self.moving_var = self.add_weight(name="bn_moving_variance", shape=(n_out,), initializer="ones",
                                              trainable=False)
        self.kq.build(kshape)
        self.bq.build((n_out,))

    def folded(self, x=None, training=None) -> tuple:
        """Float kernel and bias with the BatchNormalization folded in (batch statistics when training)."""
        if not self.batchnorm:
            return self.kernel, self.bias
        if training and x is not None:
            z = self.linear(x, self.kernel) + self.bias
            mean, var = ops.moments(z, axes=list(range(len(z.shape) - 1)))
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_var.assign(self.momentum * self.moving_var + (1 - self.momentum) * var)
        else:
            mean, var = self.moving_mean, self.moving_var
        # gamma / sqrt(var + eps), each op correctly rounded: the same float32 scale eagerly and under XLA on every
        # backend (XLA rewrites a division by a bare sqrt into an approximate rsqrt; the maximum keeps it bare-free)
        scale = self.gamma / ops.maximum(ops.sqrt(var + self.epsilon), 1e-30)
        return self.kernel * scale, (self.bias - mean) * scale + self.offset

    def forward(self, x, training=None):
        kernel, bias = self.folded(x, training)
        return self._act(add_bias(self.linear(x, self.kq(kernel)), self.bq(bias)))

    # ---------------------------------------------------------------------------------- bits / export
    def ebops_tensor(self):
        kernel, _ = self.folded()
        return self.ebops_linear(self.input_bits(), self.kq.bits(kernel))

    def ebops_operands(self) -> tuple:
        """(input bits, kernel bits) as backend tensors: what :meth:`ebops_numpy` multiplies."""
        kernel, _ = self.folded()
        return self.input_bits(), self.kq.bits(kernel)

    def ebops_from_operands(self, in_bits, kernel_bits) -> float:
        """The exact EBOPs (float64 NumPy sum) of operands from :meth:`ebops_operands`."""
        return float(self.ebops_numpy(np.asarray(ops.convert_to_numpy(in_bits), np.float64),
                                      np.asarray(ops.convert_to_numpy(kernel_bits), np.float64)))

    def ebops_exact(self) -> float:
        return self.ebops_from_operands(*self.ebops_operands())

    def weight_bits(self) -> list:
        kernel, bias = self.folded()
        return [self.kq.bits(kernel), self.bq.bits(bias), self.oq.bits()]

    def quantizers(self) -> list[FixedQuantizer]:
        return [self.kq, self.bq, self.oq]

    def quantized_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The (folded) kernel and bias exactly as the firmware uses them."""
        kernel, bias = self.folded()
        return ops.convert_to_numpy(self.kq(kernel)), ops.convert_to_numpy(self.bq(bias))

    def proxy_ops(self) -> list[keras.layers.Layer]:
        op = self.proxy_linear()
        op.trigger_hgq_weights = list(self.quantized_weights())  # set once the op is built (called) in to_proxy
        layers = [op]
        if self.activation == "relu":
            layers.append(keras.layers.Activation("relu", name=f"{self.name}_relu"))
        return layers

    def trace(self, inputs, ops) -> np.ndarray:
        kernel, bias = (np.asarray(a, np.float64) for a in self.quantized_weights())
        y = np.asarray(self.trace_linear(inputs[0], kernel, ops), dtype=object)
        for idx in np.ndindex(y.shape):
            y[idx] = y[idx] + float(bias[idx[-1]])
        return ops.relu(y) if self.activation == "relu" else y

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_quantizer=self.kernel_quantizer.to_dict(),
            bias_quantizer=self.bias_quantizer.to_dict(),
            batchnorm=self.batchnorm,
            momentum=self.momentum,
            epsilon=self.epsilon,
        )
        return config
