"""QKeras -> trigger-hgq conversion: the layer map, the quantizer map, model files."""

from __future__ import annotations

from trigger_hgq.convert.io import load_model, qkeras_objects, save_model
from trigger_hgq.convert.model import from_qkeras

__all__ = ["from_qkeras", "load_model", "qkeras_objects", "save_model"]
