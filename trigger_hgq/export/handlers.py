"""Layer handlers for hls4ml's Keras 3 frontend: our proxy quantizer, qkeras layers, BatchNormalization.

hls4ml 1.3.0 converts a Keras 3 model through a registry of ``KerasV3LayerHandler`` subclasses, keyed by the
layer's ``module.Class`` (``hls4ml/converters/keras_v3/_base.py``; defining a subclass with ``handles`` adds it).
It ships handlers for plain Keras layers, none for qkeras layers or for BatchNormalization. This module adds:

* :class:`FixedPointQuantizerHandler`: our proxy quantizer (:class:`trigger_hgq.export.proxy.FixedPointQuantizer`)
  as hls4ml's ``FixedPointQuantizer`` layer (``mask_kbi`` = per-element (k, B, I), ``RND``, ``SAT``,
  ``fusible``, ``overrides``), which drives hls4ml's bit-exact precision flow;
* qkeras layers (``QDense``, ``QConv1D``, ``QConv2D``, ``QActivation``, ``QBatchNormalization``) as the layer
  dictionaries hls4ml's Keras 2 QKeras converter (``hls4ml/converters/keras/qkeras.py``) makes: the float
  weights with ``weight_quantizer`` / ``bias_quantizer`` (hls4ml's ``QKerasQuantizer`` family, from the
  quantizers' configs), and activation quantizers as ``Activation`` layers with ``activation_quantizer``;
* ``BatchNormalization`` with its four arrays, as hls4ml's Keras 2 converter reads it.

:func:`register` imports hls4ml and defines the handlers once; :func:`trigger_hgq.export.hls.convert` calls it.
"""

from __future__ import annotations

from math import prod
from types import FunctionType

import numpy as np

_REGISTERED = False


def _quantizer_config(quantizer) -> dict:
    """A qkeras quantizer object as the ``{"class_name", "config"}`` dict hls4ml's QKeras classes read."""
    return {"class_name": type(quantizer).__name__, "config": quantizer.get_config()}


class _NumpyResult:
    """A quantized array that answers ``.numpy()``, as a TensorFlow tensor does."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def numpy(self) -> np.ndarray:
        return self.array


class _AnyBackendQuantizerFn:
    """A qkeras quantizer whose results hls4ml's ``QKerasQuantizer`` wrappers can read under any Keras backend.

    hls4ml calls ``quantizer_fn(data).numpy()``, a TensorFlow-only method; under JAX the quantizer returns a JAX
    array. This calls the quantizer, converts its result with ``keras.ops.convert_to_numpy`` and hands it back
    with a ``.numpy()``; every other attribute is the quantizer's.
    """

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, data):
        import keras

        return _NumpyResult(np.asarray(keras.ops.convert_to_numpy(self.fn(data))))

    def __getattr__(self, name):
        return getattr(self.fn, name)


def _any_backend(quantizer):
    """hls4ml's quantizer wrapper with its qkeras function made backend-independent (None passes through)."""
    if quantizer is not None and hasattr(quantizer, "quantizer_fn"):
        quantizer.quantizer_fn = _AnyBackendQuantizerFn(quantizer.quantizer_fn)
    return quantizer


def _key(cls: type) -> str:
    """hls4ml's registry key of a layer class: ``module.Class``."""
    return f"{cls.__module__}.{cls.__name__}"


def register() -> None:
    """Define (and so register) the handlers of this module in hls4ml's Keras 3 frontend (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    _define()
    _REGISTERED = True


def _define() -> None:  # noqa: C901 (one place for the handler classes, defined only once hls4ml is imported)
    import keras
    from hls4ml.converters.keras.qkeras import get_activation_quantizer
    from hls4ml.converters.keras.qkeras import get_quantizer_from_config as hls4ml_quantizer_from_config
    from hls4ml.converters.keras_v3._base import KerasV3LayerHandler
    from hls4ml.converters.keras_v3.conv import ConvHandler
    from hls4ml.converters.keras_v3.core import DenseHandler

    from trigger_hgq.export.proxy import FixedPointQuantizer

    def get_quantizer_from_config(config: dict, name: str):
        return _any_backend(hls4ml_quantizer_from_config(config, name))

    def numpy(value) -> np.ndarray:
        return np.asarray(keras.ops.convert_to_numpy(value))

    def weight_quantizers(layer, kind: str) -> dict:
        """``weight_quantizer`` / ``bias_quantizer`` of a qkeras layer, as hls4ml's Keras 2 path builds them."""
        out = {}
        for var, key in (("kernel", "weight_quantizer"), ("bias", "bias_quantizer")):
            quantizer = getattr(layer, f"{var}_quantizer_internal", None) if getattr(
                layer, f"{var}_quantizer", None) else None
            config = None if quantizer is None else _quantizer_config(quantizer)
            out[key] = get_quantizer_from_config({"class_name": kind, "config": {f"{var}_quantizer": config}}, var)
        return out

    def activation_conf(layer, quantizer, name: str, in_names: list[str], out_names: list[str], n_in: int) -> dict:
        """An activation (a qkeras quantizer or a Keras function) as hls4ml's Keras 2 path emits it."""
        if isinstance(quantizer, FunctionType) or isinstance(quantizer, str):
            fn = quantizer if isinstance(quantizer, str) else quantizer.__name__
            conf = {"class_name": "Softmax" if fn == "softmax" else "Activation", "activation": fn, "name": name}
            if fn == "softmax":
                conf["axis"] = -1
        else:
            keras_layer = {"class_name": "QActivation", "config": {"name": name,
                                                                   "activation": _quantizer_config(quantizer)}}
            conf = get_activation_quantizer(keras_layer, None)
        conf.update(input_keras_tensor_names=list(in_names), output_keras_tensor_names=list(out_names), n_in=n_in)
        return conf

    class QKerasActivationMixin:
        """A qkeras dense/conv layer's own activation (a quantizer or a function) as a following layer."""

        def maybe_get_activation_config(self, layer, out_tensors):
            activation = getattr(layer, "activation", None)
            if activation is None or getattr(activation, "__name__", None) == "linear":
                return None, None
            out = out_tensors[0].name
            inner = f"{out}_activation"
            label = activation.__name__ if isinstance(activation, FunctionType) else type(activation).__name__
            conf = activation_conf(layer, activation, f"{layer.name}_{label}", [inner], [out],
                                   prod(out_tensors[0].shape[1:]))
            return conf, inner

    class FixedPointQuantizerHandler(KerasV3LayerHandler):
        handles = (_key(FixedPointQuantizer),)

        def handle(self, layer, in_tensors, out_tensors):
            k, b, i = (numpy(w).astype(np.int16) for w in (layer.keep_negative, layer.bits, layer.integers))
            if layer.fusible:
                k, b, i = k.ravel()[:1], b.ravel()[:1], i.ravel()[:1]
            return {"class_name": "FixedPointQuantizer", "mask_kbi": (k, b, i), "RND": layer.RND, "SAT": layer.SAT,
                    "fusible": bool(layer.fusible), "overrides": dict(layer.overrides)}

    class BatchNormalizationHandler(KerasV3LayerHandler):
        handles = (_key(keras.layers.BatchNormalization),)

        def handle(self, layer, in_tensors, out_tensors):
            shape = list(in_tensors[0].shape[1:])
            axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
            if axis % (len(shape) + 1) != len(shape):
                raise ValueError(f"layer {layer.name}: BatchNormalization over axis {layer.axis} (only the last)")
            n = int(shape[-1])
            conf = {
                "n_in": prod(shape), "n_out": prod(shape), "n_filt": -1 if len(shape) == 1 else n,
                "use_gamma": bool(layer.scale), "use_beta": bool(layer.center),
                "gamma_data": numpy(layer.gamma) if layer.scale else 1,
                "beta_data": numpy(layer.beta) if layer.center else 0,
                "mean_data": numpy(layer.moving_mean), "variance_data": numpy(layer.moving_variance),
            }
            if type(layer).__name__ == "QBatchNormalization":
                for key in ("mean", "variance", "beta", "gamma"):
                    quantizer = getattr(layer, f"{key}_quantizer_internal", None)
                    conf[f"{key}_quantizer"] = None if quantizer is None else get_quantizer_from_config(
                        {"class_name": "QBatchNormalization",
                         "config": {f"{key}_quantizer": _quantizer_config(quantizer)}}, key)
            return conf

    try:
        import qkeras
    except ImportError:  # no qkeras: hgq and float models only
        qkeras = None
    if qkeras is not None:
        class QDenseHandler(QKerasActivationMixin, DenseHandler):
            handles = (_key(qkeras.QDense),)

            def handle(self, layer, in_tensors, out_tensors):
                conf = super().handle(layer, in_tensors, out_tensors)
                conf.update(weight_quantizers(layer, "QDense"))
                return conf

        class QConvHandler(QKerasActivationMixin, ConvHandler):
            handles = (_key(qkeras.QConv1D), _key(qkeras.QConv2D))

            def handle(self, layer, in_tensors, out_tensors):
                conf = super().handle(layer, in_tensors, out_tensors)
                conf.update(weight_quantizers(layer, type(layer).__name__))
                return conf

        class QActivationHandler(KerasV3LayerHandler):
            handles = (_key(qkeras.QActivation),)

            def __call__(self, layer, in_tensors, out_tensors):
                conf = activation_conf(layer, layer.activation, layer.name, [t.name for t in in_tensors],
                                       [t.name for t in out_tensors], prod(in_tensors[0].shape[1:]))
                conf["module"] = layer.__module__
                conf["input_shape"] = [list(t.shape[1:]) for t in in_tensors]
                return (conf,)

        class QBatchNormalizationHandler(BatchNormalizationHandler):
            handles = (_key(qkeras.QBatchNormalization),)

    # keep references: the registry holds instances, the classes need no other name
    register.handlers = (FixedPointQuantizerHandler, BatchNormalizationHandler)
