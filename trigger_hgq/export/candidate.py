"""One candidate model through hls4ml, summarised as the pipeline report's fields: the export with its
C-simulation check (:func:`export_candidate`, :func:`csim_failure`). The open-source RTL route of a candidate:
:mod:`trigger_hgq.export.rtl.candidate`."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

#: The firmware input of a QKeras model that quantizes its inputs itself: wide, so that this step is exact too.
QKERAS_INPUT_PRECISION = "ap_fixed<32,8>"
def export_candidate(model, out_dir: str | Path, x: np.ndarray, *, part: str, clock_ns: float,
                     backend: str = "Vitis", io_type: str = "io_parallel", strategy: str = "Latency",
                     n_check: int = 10000):
    """Export the logits of ``model`` (:func:`trigger_hgq.models.logits_model`) to an hls4ml project in
    ``out_dir`` and check its C simulation on the rows of ``x``; a QKeras model that quantizes its inputs gets a
    :data:`QKERAS_INPUT_PRECISION` firmware input. Returns the :class:`~trigger_hgq.export.api.Export`, also when
    the check is not bit-exact (see :func:`csim_failure`)."""
    from trigger_hgq.export import to_hls4ml
    from trigger_hgq.models import logits_model, quantizes_inputs

    input_precision = QKERAS_INPUT_PRECISION if quantizes_inputs(model) else None
    with contextlib.redirect_stdout(io.StringIO()):
        return to_hls4ml(logits_model(model), out_dir, x=x, input_precision=input_precision, n_check=int(n_check),
                         backend=backend, part=part, clock_ns=clock_ns, io_type=io_type, strategy=strategy,
                         require_exact=False)


def csim_failure(report: dict, method: str) -> dict | None:
    """For an HGQ candidate whose C simulation is not bit-exact, its failure record: ``stage`` (export),
    ``error``, ``first_mismatch_row`` (the first checked input row that differs) and ``layer`` (the first hls4ml
    layer whose output differs, when the layer trace found one); None otherwise. ``report`` is the export's
    report.json. Baselines are only measured: their firmware is as exact as it is."""
    check = report.get("check") or {}
    exact = report.get("bit_exact_fraction")
    if method != "hgq" or exact is None or exact >= 1.0:
        return None
    return {"stage": "export",
            "error": f"C simulation is bit-exact on only {exact:.4%} of {report.get('n_checked')} rows",
            "first_mismatch_row": check.get("first_mismatch"), "layer": check.get("first_differing_layer")}
