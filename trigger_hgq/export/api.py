"""``to_hls4ml``: model -> hls4ml project, C-simulation check, estimate (or synthesis reports) -> report.json.

The project is written, compiled and checked in a temporary sibling folder, which then replaces ``out_dir``
(an interrupted export leaves no half-made project). An HGQ model whose C simulation is not 100 % equal to the
model is an error (after the report is written, so the failing project can be inspected).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from trigger_hgq.atomic import write_json_atomic
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.da_cost import da_costs
from trigger_hgq.export.estimate import estimate
from trigger_hgq.export.hls import (
    DEFAULT_PART,
    CheckResult,
    ExportOptions,
    check,
    compile_csim,
    convert,
    model_kind,
)
from trigger_hgq.export.proxy import Proxy
from trigger_hgq.export.report import REPORT_NAME, apply_synthesis, build_report
from trigger_hgq.export.vivado import parse_project


@dataclass
class Export:
    """What :func:`to_hls4ml` produced."""

    out_dir: Path
    hls_model: object
    report: dict
    kind: str
    proxy: Proxy | None = None
    check: CheckResult | None = None


def _layer_precisions(hls_model) -> dict[str, str]:
    out = {}
    for layer in hls_model.get_layers():
        text = str(layer.get_output_variable().type.precision)
        weight = layer.attributes.get("weight")
        if weight is not None and hasattr(weight, "type"):
            text += f" (weight {weight.type.precision})"
        out[layer.name] = text
    return out


def float32_risk_layers(hls_model, max_bits: int = 24) -> list[str]:
    """Layers whose exact accumulator is wider than a float32 mantissa: Keras (float32) may round there."""
    risky = []
    for layer in hls_model.get_layers():
        acc = layer.attributes.get("accum_t")
        width = getattr(getattr(acc, "precision", None), "width", 0) or 0
        if "weight" in layer.attributes and width > max_bits:
            risky.append(layer.name)
    return risky


def unranged_layers(model: keras.Model) -> list[str]:
    """Layers with an activation quantizer that never recorded a range (model never trained or calibrated)."""
    from trigger_hgq.bops import h_layers

    names = []
    for layer in h_layers(model):
        for q in layer.quantizers():
            if not q.is_weight and q.vmin is not None and not bool(np.any(
                    keras.ops.convert_to_numpy(q.vmin) <= keras.ops.convert_to_numpy(q.vmax))):
                names.append(layer.name)
                break
    return names


def check_ranges(model: keras.Model) -> None:
    """Refuse an HGQ model whose activation ranges were never recorded (its firmware would output zeros)."""
    missing = unranged_layers(model)
    if missing:
        raise TriggerHGQError(
            f"model {model.name!r}: layer {missing[0]!r} ({len(missing)} layer(s) in all) has no activation range: "
            "the model was never trained or calibrated, so its firmware would output zeros; calibrate it first "
            "(trigger_hgq.calibrate(model, x), or `trigger-hgq export --calibrate --data X.npy`)"
        )


def check_inputs(model: keras.Model, x, what: str = "x") -> list[np.ndarray]:
    """Check ``x`` against the model's inputs (count, shape, numbers, finite); returns the arrays as a list."""
    arrays = list(x) if isinstance(x, list | tuple) else [x]
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    if len(arrays) != len(shapes):
        raise TriggerHGQError(f"{what}: {len(arrays)} array(s) for a model with {len(shapes)} input(s)")
    out = []
    for k, (arr, shape) in enumerate(zip(arrays, shapes, strict=True)):
        arr = np.asarray(arr)
        name = f"{what} (input {k})" if len(shapes) > 1 else what
        if arr.dtype.kind not in "biuf":
            raise TriggerHGQError(f"{name}: dtype {arr.dtype}, expected numbers")
        if arr.ndim != len(shape) + 1 or any(
                d is not None and d != n for d, n in zip(shape, arr.shape[1:], strict=True)):
            want = ", ".join("N" if d is None else str(d) for d in shape)
            raise TriggerHGQError(f"{name}: shape {arr.shape}, the model expects (rows, {want})")
        if len(arr) == 0:
            raise TriggerHGQError(f"{name}: no rows")
        bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
        if bad.any():
            raise TriggerHGQError(f"{name}: {int(bad.sum())} row(s) contain NaN or Inf (first: row "
                                  f"{int(np.flatnonzero(bad)[0])})")
        out.append(arr.astype(np.float32))
    return out


def check_out_dir(path: str | os.PathLike, what: str = "out_dir") -> Path:
    """A project folder that may be written: new, empty, or an earlier project (it will be replaced)."""
    from trigger_hgq.checks import output_dir

    path = output_dir(path, what)
    if path.is_dir() and any(path.iterdir()) and not any(
            (path / name).exists() for name in (REPORT_NAME, "hls4ml_config.yml")):
        raise TriggerHGQError(f"{what} {str(path)!r}: a non-empty folder that is not an hls4ml project; "
                              "refusing to replace it (choose a new folder)")
    return path


def _replace_dir(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _relocate(hls_model, tmp: Path, final: Path) -> None:
    """Point the model and the project's config at ``final``; drop the library built for ``tmp``."""
    hls_model.config.config["OutputDir"] = str(final)
    yml = final / "hls4ml_config.yml"
    if yml.is_file():
        yml.write_text(yml.read_text().replace(str(tmp), str(final)))
    for lib in (final / "firmware").glob("*.so"):
        lib.unlink()  # it reads its weights from the temporary folder: hls_model.compile() rebuilds it


def synthesize(hls_model, backend: str, vsynth: bool = True) -> None:
    """Run hls4ml's HLS build (C synthesis, optionally Vivado synthesis); needs Vivado HLS / Vitis on PATH."""
    tool = "vitis-run" if backend == "Vitis" else "vivado_hls"
    if shutil.which(tool) is None:
        raise TriggerHGQError(f"--synth needs {tool!r} ({backend}) on PATH")
    try:
        hls_model.build(csim=False, synth=True, vsynth=vsynth)
    except Exception as err:
        raise TriggerHGQError(f"HLS build of {hls_model.config.get_output_dir()} failed: {err}") from err


def to_hls4ml(
    model: keras.Model,
    out_dir: str | os.PathLike,
    x=None,
    backend: str = "Vitis",
    part: str = DEFAULT_PART,
    clock_ns: float = 5.0,
    io_type: str = "io_parallel",
    strategy: str = "Latency",
    reuse_factor: int = 1,
    precision: str = "ap_fixed<16,6>",
    input_precision: str | None = None,
    clock_uncertainty: str | None = None,
    hls_config: dict | None = None,
    project_name: str = "myproject",
    n_check: int | None = None,
    synth: bool = False,
    require_exact: bool | None = None,
    da: bool = False,
) -> Export:
    """Export ``model`` (trigger-hgq, QKeras or float Keras) to an hls4ml project in ``out_dir``, with report.json.

    Args:
        x: inputs for the C-simulation check (rows; a list for several inputs). None: compile only.
        backend, part, clock_ns, io_type, strategy, reuse_factor, clock_uncertainty, project_name: hls4ml settings.
        precision: float models: the type of every tensor; QKeras: the type of tensors without a quantizer.
        input_precision: float / QKeras models: the type of the model input.
        hls_config: extra hls4ml config merged over the generated one (``{"LayerName": {...}}``).
        n_check: check at most this many rows of ``x``.
        synth: run the HLS build (needs Vivado HLS / Vitis) and fill resources / latency from its reports.
        require_exact: raise unless 100 % bit-exact (default: True for trigger-hgq models).
        da: also record hls4ml's distributed-arithmetic cost per layer (needs da4ml; seconds per layer).

    Returns:
        An :class:`Export` (the hls4ml model stays loaded with its C simulation).
    """
    opts = ExportOptions(backend=backend, part=part, clock_ns=float(clock_ns), clock_uncertainty=clock_uncertainty,
                         io_type=io_type, strategy=strategy, reuse_factor=int(reuse_factor),
                         project_name=project_name, precision=precision, input_precision=input_precision,
                         hls_config=hls_config)
    opts.validate()
    if not math.isfinite(opts.clock_ns):
        raise TriggerHGQError(f"export option clock_ns={opts.clock_ns}: must be finite")
    final = check_out_dir(out_dir).resolve()
    if x is not None:
        xs = check_inputs(model, x)
        x = xs if isinstance(x, list | tuple) else xs[0]
    if model_kind(model) == "hgq":
        check_ranges(model)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    timings: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        hls_model, proxy, kind = convert(model, tmp, opts)
        t1 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            hls_model.write()
        t2 = time.perf_counter()
        compile_csim(hls_model)
        t3 = time.perf_counter()
        result = check(model, hls_model, x, kind, proxy, n_check) if x is not None else None
        t4 = time.perf_counter()
        timings = {"convert": t1 - t0, "write": t2 - t1, "compile": t3 - t2, "check": t4 - t3}
        exact = kind == "hgq"
        est = estimate(hls_model, opts.clock_ns, opts.uncertainty_fraction, exact=exact)
        est.ii = 1 if opts.io_type == "io_parallel" and opts.reuse_factor == 1 else opts.reuse_factor
        ebops_model = None
        if kind == "hgq":
            from trigger_hgq.bops import ebops

            ebops_model = ebops(model)
        options = {k: v for k, v in asdict(opts).items() if k != "hls_config"}
        report = build_report(
            kind=kind, options=options, check=result.to_dict() if result else None,
            layer_checks={c.name: c.exact_fraction for c in (result.layers if result else [])},
            estimate=est.to_dict(), layer_precisions=_layer_precisions(hls_model), ebops=ebops_model,
            da=da_costs(hls_model) if da else {}, timings_s=timings,
        )
        if kind == "hgq":
            report["float32_risk_layers"] = float32_risk_layers(hls_model)
        write_json_atomic(tmp / REPORT_NAME, report)
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _relocate(hls_model, tmp, final)
    if synth:
        synthesize(hls_model, opts.backend)
        report = apply_synthesis(report, parse_project(final))
        write_json_atomic(final / REPORT_NAME, report)
    export = Export(final, hls_model, report, kind, proxy, result)
    must_be_exact = (kind == "hgq") if require_exact is None else require_exact
    if must_be_exact and result is not None and result.bit_exact_fraction < 1.0:
        where = (f"; first differing layer {result.first_differing_layer!r} (of {result.first_differing_source!r})"
                 if result.first_differing_layer else "")
        raise TriggerHGQError(
            f"export {final}: C simulation is bit-exact on only {result.bit_exact_fraction:.4%} of "
            f"{result.n_checked} rows; first mismatching input row {result.first_mismatch}{where}"
        )
    return export
