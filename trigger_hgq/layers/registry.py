"""The one list of trigger-hgq layer classes (pure Python: no TensorFlow import here).

Every layer class is registered once, by :func:`trigger_hgq.layers.base.register`, which also makes it
Keras-serializable. Each registered class is its layer's one home: its forward computation and EBOPs, the plain
Keras layers of its hls4ml proxy (``proxy_ops``) and its RTL dataflow (``trace``) are methods of the class, so the
exporters look nothing up by name and a new layer type is one module. The public layer names of ``trigger_hgq``,
``custom_objects()`` and :func:`supported_layers` are all read from here.
"""

from __future__ import annotations

from trigger_hgq.errors import TriggerHGQError

_CLASSES: dict[str, type] = {}


def add_layer_class(cls: type) -> type:
    """Add ``cls`` under its class name; a second, different class of the same name is an error."""
    name = cls.__name__
    known = _CLASSES.get(name)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TriggerHGQError(
            f"layer class {name!r} ({cls.__module__}) is already registered by {known.__module__}: "
            "give the new layer another name"
        )
    _CLASSES[name] = cls
    return cls


def layer_classes() -> tuple[type, ...]:
    """Every registered layer class, in registration order."""
    return tuple(_CLASSES.values())


def layer_class(name: str) -> type:
    """The registered layer class called ``name``."""
    if name not in _CLASSES:
        raise TriggerHGQError(f"layer class {name!r} is not a trigger-hgq layer (supported: {sorted(_CLASSES)})")
    return _CLASSES[name]


def supported_layers() -> list[str]:
    """Names of the layer classes that train, export to hls4ml and trace to RTL, in registration order."""
    return list(_CLASSES)
