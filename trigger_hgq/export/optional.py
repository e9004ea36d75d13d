"""The one gateway to the optional dependency da4ml (the ``rtl`` / ``da`` extras).

``da4ml("da4ml.trace")`` imports a da4ml module, or raises one :class:`TriggerHGQError` line naming the extra to
install instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from trigger_hgq.errors import TriggerHGQError

INSTALL_HINT = "pip install 'trigger-hgq[rtl]'"


def da4ml(module: str = "da4ml.trace") -> ModuleType:
    """The da4ml ``module`` (a dotted name starting with ``da4ml``)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise TriggerHGQError(f"this needs da4ml ({module} could not be imported: {err}); {INSTALL_HINT}") from err


def da4ml_trace() -> ModuleType:
    """``da4ml.trace`` (FixedVariable, FixedVariableArray, HWConfig, comb_trace)."""
    return da4ml("da4ml.trace")


def has_da4ml() -> bool:
    """Whether da4ml can be imported (for optional figures that are simply left out without it)."""
    try:
        da4ml_trace()
    except TriggerHGQError:
        return False
    return True
