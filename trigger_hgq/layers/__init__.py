"""Learnable-bit layers. Each owns its quantizers, computes its own EBOPs and says how it is built in firmware.

The layer list is the registry (:mod:`trigger_hgq.layers.registry`): importing this package imports every module
of it, each ``@register``-ed class is added to the registry once, and the package's names are read from there.
A new layer type is one new module here (plus its tests).
"""

from __future__ import annotations

import importlib
import pkgutil

from trigger_hgq.layers.base import HLayer, HQuantizedLayer
from trigger_hgq.layers.conv import HConv
from trigger_hgq.layers.kernel import HKernelLayer
from trigger_hgq.layers.pooling import HAveragePooling, HMaxPooling, HPooling
from trigger_hgq.layers.registry import layer_classes, supported_layers

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

LAYER_CLASSES: tuple[type, ...] = layer_classes()
"""Every registered layer class (what ``custom_objects()`` returns)."""
BASE_CLASSES: tuple[type, ...] = (HLayer, HQuantizedLayer, HKernelLayer, HConv, HPooling, HMaxPooling,
                                  HAveragePooling)
"""The public base classes a new layer type derives from."""

globals().update({cls.__name__: cls for cls in LAYER_CLASSES})

__all__ = [cls.__name__ for cls in LAYER_CLASSES + BASE_CLASSES] + [
    "LAYER_CLASSES", "BASE_CLASSES", "supported_layers",
]
