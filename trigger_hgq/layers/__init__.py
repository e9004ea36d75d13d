"""Learnable-bit layers. Each owns its quantizers and computes its own EBOPs."""

from __future__ import annotations

from trigger_hgq.layers.activation import HActivation, HAdd, HQuantize
from trigger_hgq.layers.base import HLayer, HQuantizedLayer
from trigger_hgq.layers.conv import HConv1D, HConv1DBatchNorm, HConv2D, HConv2DBatchNorm
from trigger_hgq.layers.dense import HDense, HDenseBatchNorm
from trigger_hgq.layers.kernel import HKernelLayer
from trigger_hgq.layers.passive import HDropout, HFlatten, HReshape
from trigger_hgq.layers.pooling import HAveragePooling1D, HAveragePooling2D, HMaxPooling1D, HMaxPooling2D

LAYER_CLASSES = (
    HQuantize, HDense, HDenseBatchNorm, HConv1D, HConv2D, HConv1DBatchNorm, HConv2DBatchNorm, HActivation, HAdd,
    HMaxPooling1D, HMaxPooling2D, HAveragePooling1D, HAveragePooling2D, HFlatten, HReshape, HDropout,
)

__all__ = [cls.__name__ for cls in LAYER_CLASSES] + ["HLayer", "HQuantizedLayer", "HKernelLayer", "LAYER_CLASSES"]
