"""The optional-dependency gateway: a missing da4ml is one TriggerHGQError naming the extra to install."""

from __future__ import annotations

import pytest

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.optional import INSTALL_HINT, da4ml


def test_missing_da4ml_module_names_the_extra():
    with pytest.raises(TriggerHGQError, match="da4ml.no_such_module") as err:
        da4ml("da4ml.no_such_module")
    assert "pip install 'trigger-hgq[rtl]'" in str(err.value) and INSTALL_HINT in str(err.value)
    assert "\n" not in str(err.value)


def test_da4ml_module_is_returned():
    pytest.importorskip("da4ml", reason="the rtl extra (da4ml) is not installed")
    assert hasattr(da4ml("da4ml.trace"), "comb_trace")
