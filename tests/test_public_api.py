"""The public names of ``trigger_hgq`` stay the functions and classes, whatever submodules are imported first."""

from __future__ import annotations

import importlib
import inspect

import trigger_hgq


def test_public_names_are_not_shadowed_by_submodules():
    for module in ("trigger_hgq.calibration", "trigger_hgq.bops", "trigger_hgq.training", "trigger_hgq.convert",
                   "trigger_hgq.export", "trigger_hgq.callbacks", "trigger_hgq.quantizer", "trigger_hgq.layers"):
        importlib.import_module(module)
    for name in trigger_hgq.__all__:
        value = getattr(trigger_hgq, name)
        assert not inspect.ismodule(value), f"trigger_hgq.{name} is a module"
        assert callable(value), name
