"""The pipeline's independent units of work, as top-level functions of plain data (paths, dicts).

They run the same in this process or in a Dask worker: each reads its inputs from files, seeds TensorFlow and
enables deterministic ops, and returns a JSON-serialisable dict.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trigger_hgq.progress import Progress, keras_progress
from trigger_hgq.verbosity import keras_verbose, quiet_warnings, set_verbosity, verbosity


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR" if verbosity() == 0 else "WARNING")
    with contextlib.suppress(RuntimeError):  # already set in this process
        tf.config.experimental.enable_op_determinism()
    return tf


def pipeline_task(fn: Callable[[dict], dict]) -> Callable[[dict], dict]:
    """A task: the spec's ``verbose`` level applies (also in a Dask worker) and harmless third-party warnings
    raised while it runs are dropped (:func:`trigger_hgq.verbosity.quiet_warnings`)."""

    @functools.wraps(fn)
    def task(spec: dict) -> dict:
        if spec.get("verbose") is not None:
            set_verbosity(int(spec["verbose"]))
        with quiet_warnings():
            return fn(spec)

    return task


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The pipeline's dataset arrays: ``x_train, y_train, x_val, y_val, x_test, y_test``."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def class_accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows whose predicted class (argmax) is the label."""
    return float(np.mean(np.argmax(model.predict(x, batch_size=16384, verbose=0), axis=1) == y))


@pipeline_task
def train_baseline_task(spec: dict) -> dict:
    """Train one float/QKeras baseline from its YAML config (pruned when it has ``pruning``, from the weights at
    ``spec['init_weights']`` if given); save it to ``spec['out']`` (.h5)."""
    tf = _tf()
    from trigger_hgq.baselines.policy import TrainingPolicy
    from trigger_hgq.baselines.pruning import PruningSettings, prune_baseline
    from trigger_hgq.baselines.qkeras_models import build_qkeras_model, load_baseline_config, train_baseline
    from trigger_hgq.convert.io import save_model

    t0 = time.perf_counter()
    config = load_baseline_config(spec["config"])
    if spec.get("epochs") is not None:
        config.setdefault("training", {})["epochs"] = int(spec["epochs"])
    data = load_arrays(spec["arrays"])
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(int(spec.get("seed", 0)))
    model = build_qkeras_model(config)
    name = config.get("name", Path(spec["config"]).stem)
    epochs = TrainingPolicy.from_config(config).epochs
    if config.get("pruning") is not None:
        dense = None if spec.get("init_weights") else TrainingPolicy.from_config(config)
        epochs = PruningSettings.from_config(config).capped(spec.get("epochs")).max_epochs(dense)
    fit = (data["x_train"], data["y_train"], data["x_val"], data["y_val"])
    extra = {}
    with Progress(epochs, spec.get("label") or f"baseline {name}", unit="epoch") as bar:
        bars = [keras_progress(bar, ("loss", "val_accuracy"))]
        if config.get("pruning") is not None:
            model, run = prune_baseline(model, config, *fit, init_weights=spec.get("init_weights"),
                                        epochs_cap=spec.get("epochs"), verbose=keras_verbose(), callbacks=bars)
            extra = {"sparsity": run.sparsity, "phase_epochs": {k: r.epochs_run for k, r in run.phases.items()}}
        else:
            run = train_baseline(model, config, *fit, verbose=keras_verbose(), callbacks=bars)
    save_model(model, spec["out"])
    return {"name": name,
            "method": "qkeras" if config.get("quantization") else "float",
            "path": str(spec["out"]), "config": str(spec["config"]), "epochs": run.epochs_run,
            "epochs_run": run.epochs_run, "best_epoch": run.best_epoch, **extra,
            "val_accuracy": class_accuracy(model, data["x_val"], data["y_val"]),
            "seconds": time.perf_counter() - t0}


def hgq_start_model(spec: dict, seed: int):
    """The HGQ model a run starts from: the trained QKeras baseline converted bit for bit (``warm_start``), or the
    same architecture (the baseline's YAML without its quantization) with fresh weights and the library's default
    bits. Measured on the shipped data, 100 epochs at batch 1024: from the converted 6-bit model the front reached
    that model's accuracy - 0.5 pt at 26k (beta 1e-7 -> 1e-4) and 36k EBOPs (1e-6 -> 3e-4), from fresh weights
    (bench_front's worker) at 16k: the warm start must first unlearn QKeras' grid and clipping."""
    from trigger_hgq.baselines.qkeras_models import build_qkeras_model, load_baseline_config
    from trigger_hgq.convert import from_qkeras
    from trigger_hgq.convert.io import load_model
    from trigger_hgq.quantizer import QuantizerConfig

    bits = {"lr_scale": float(spec["lr_scale"])} if spec.get("lr_scale") is not None else None
    name = f"hgq_seed{seed}"
    # HGQ's own rounding (half up) from here on: the bits are retrained anyway, and every firmware route has it
    if spec.get("warm_start", False):
        return from_qkeras(load_model(spec["start"]), quantizer=bits, rounding="RND", name=name)
    config = {k: v for k, v in load_baseline_config(spec["config"]).items() if k != "quantization"}
    init_f = int(QuantizerConfig.from_any(bits, "hgq").init_f)
    return from_qkeras(build_qkeras_model(config), quantizer=bits, rounding="RND", name=name,
                       input_quantizer={"init_f": init_f}, float_weight_f=init_f, float_activation_f=init_f)


@pipeline_task
def train_hgq_task(spec: dict) -> dict:
    """Build the starting HGQ model (:func:`hgq_start_model`) and train it with the beta schedule; returns its
    Pareto front."""
    tf = _tf()
    from trigger_hgq.training import HGQSchedule, train_hgq

    t0 = time.perf_counter()
    data = load_arrays(spec["arrays"])
    tf.keras.backend.clear_session()
    schedule = HGQSchedule(**spec["schedule"])
    tf.keras.utils.set_random_seed(schedule.seed)
    model = hgq_start_model(spec, schedule.seed)
    with Progress(schedule.epochs, spec.get("label") or f"HGQ seed {schedule.seed}", unit="epoch",
                  position=spec.get("bar_position")) as bar:
        front = train_hgq(model, (data["x_train"], data["y_train"]), (data["x_val"], data["y_val"]), schedule,
                          spec["front_dir"], verbose=keras_verbose(),
                          callbacks=[keras_progress(bar, ("beta", "ebops", "val_accuracy"))])
    for point in front:
        point["path"] = str(Path(spec["front_dir"]) / point["path"])
        point["seed"] = schedule.seed
    return {"front": front, "seconds": time.perf_counter() - t0}


def _bits_histogram(model) -> dict:
    from trigger_hgq.layers import HKernelLayer, HQuantizedLayer
    from trigger_hgq.report.summarize import bits_counts

    out = {}
    for layer in model.layers:
        if not isinstance(layer, HQuantizedLayer):
            continue
        entry = {}
        if isinstance(layer, HKernelLayer):
            k, i, f = layer.kq.kif_numpy(layer.folded()[0])
            entry["weights"] = bits_counts(k + i + f)
        k, i, f = layer.oq.kif_numpy()
        entry["activations"] = bits_counts(k + i + f)
        out[layer.name] = entry
    return out


def _model_ebops(model, method: str, x_calib: np.ndarray) -> int:
    """Exact EBOPs: of the HGQ model itself, or of a QKeras/float model through its HGQ image (same grid)."""
    from trigger_hgq.bops import ebops
    from trigger_hgq.calibration import calibrate
    from trigger_hgq.convert import from_qkeras

    if method != "hgq":
        model = from_qkeras(model, float_weight_f=10, float_activation_f=10)  # floats as ap_fixed<16,6>-like
        calibrate(model, x_calib)
    return ebops(model)


def calibrate_hgq(model, data: dict[str, np.ndarray], margin_bits: int) -> dict:
    """Calibrate an HGQ model on train+val with ``margin_bits`` of headroom; returns the report's ``overflow``:
    how many test rows leave a calibrated range, how many still wrap around, and how many change class because
    of it (against the same model with no wrap-around, :func:`trigger_hgq.calibration.unwrapped_predict`)."""
    from trigger_hgq.calibration import calibrate, rows_outside_ranges, unwrapped_predict, widen_ranges

    x_cal, x_test = np.concatenate([data["x_train"], data["x_val"]]), data["x_test"]
    calibrate(model, x_cal)
    reference = np.argmax(unwrapped_predict(model, x_test), axis=1)
    outside = rows_outside_ranges(model, x_test)
    widen_ranges(model, margin_bits)
    wrapping = rows_outside_ranges(model, x_test, modes=("WRAP",))
    flips = np.argmax(model.predict(x_test, batch_size=16384, verbose=0), axis=1) != reference
    return {"margin_bits": int(margin_bits), "test_rows_outside_calibration": int(outside.sum()),
            "test_rows_wrapping": int(wrapping.sum()), "test_class_flips": int(flips.sum())}


QKERAS_INPUT_PRECISION = "ap_fixed<32,8>"
# The estimator models hls4ml's multiplier-based design; yosys synthesizes da4ml's distributed-arithmetic design
# of the same model, which shares adders and so needs fewer LUTs: measured estimate / yosys 1.8-2.3 on HGQ points
# and 3.5 on the 6-bit baseline, so it is recorded, not promised. Documented agreement: EBOPs (the HGQ resource
# proxy, LUT ~ EBOPs) within a factor 2 of yosys' LUT count.
ESTIMATE_FACTOR = 2.0


def _rtl(model, spec: dict, x: np.ndarray, ebops: int | None, estimate_lut: float | None = None) -> dict:
    """The open-source RTL route for a trigger-hgq model: Verilog (da4ml) -> yosys LUT/FF -> Verilator check on
    the rows ``x``; returns the report fields ``yosys`` and ``rtl`` (with the estimator's error against yosys and
    the longest stage against the timing model). A design that differs from Keras is marked, not dropped."""
    from trigger_hgq.export.rtl import build_rtl

    with contextlib.redirect_stdout(io.StringIO()):
        rtl = build_rtl(model, spec["out"], x, clock_ns=spec["clock_ns"], part=spec["part"],
                        n_check=int(spec["export"].get("n_check", 10000)), strict=False)
    syn, timing = rtl["synthesis"], rtl["timing"]
    ratios = {"estimate_over_yosys_lut": estimate_lut / syn["lut"] if estimate_lut and syn["lut"] else None,
              "ebops_over_yosys_lut": ebops / syn["lut"] if ebops and syn["lut"] else None}
    proxy = ratios["ebops_over_yosys_lut"]
    within = proxy is not None and 1 / ESTIMATE_FACTOR <= proxy <= ESTIMATE_FACTOR
    exact = rtl["check"]["bit_exact_fraction"]
    return {
        "yosys": {"lut": int(syn["lut"]), "ff": int(syn["ff"]), "carry": int(syn["carry4"]), "dsp": int(syn["dsp"]),
                  "lut_levels": int(syn["lut_levels"]), "seconds": syn["seconds"]},
        "rtl": {"latency_cycles": rtl["latency_cycles"], "latency_ns": rtl["latency_ns"], "bit_exact_fraction": exact,
                "n_checked": rtl["check"]["n_checked"], "marked": exact is None or exact < 1.0,
                "adders_per_stage": rtl["adders_per_stage"], "max_lut_levels": timing["max_lut_levels"],
                "longest_stage_lut_levels": timing["longest_stage_lut_levels"],
                "critical_path_ns": timing["critical_path_ns"], "meets_clock": timing["meets_clock"],
                "pipelinings_tried": len(timing["tries"]),
                **ratios, "estimate_within_documented_error": within},
    }


def exact_rtl_model(model, method: str, x: np.ndarray):
    """The trigger-hgq model the RTL route implements for a candidate, and how exactly it equals the candidate.

    HGQ models are their own (calibrated) RTL model. QKeras / AutoQKeras models are converted with
    :func:`~trigger_hgq.convert.from_qkeras` keeping QKeras' rounding (RND_CONV) and ranges; the converted logits
    must equal the QKeras logits on the rows ``x`` (``conversion_exact_fraction``). Returns ``(model, fraction)``,
    or ``(None, reason)`` when the candidate has no exact fixed-point form (float weights, an unquantized input).
    """
    from trigger_hgq.convert import from_qkeras
    from trigger_hgq.errors import TriggerHGQError
    from trigger_hgq.export.rtl.api import compare

    if method == "hgq":
        return model, None
    if method == "float":
        return None, "a float model has no exact fixed-point form"
    if not quantizes_inputs(model):
        return None, "the model does not quantize its inputs: no exact fixed-point input"
    try:
        converted = from_qkeras(model, name=f"{model.name}_rtl")
    except TriggerHGQError as err:
        return None, f"no exact conversion: {err}"
    ref = logits_model(model).predict(x, batch_size=8192, verbose=0)
    got = converted.predict(x, batch_size=8192, verbose=0)
    return converted, compare(np.asarray(got, np.float64), np.asarray(ref, np.float64))["bit_exact_fraction"]


def rtl_task(spec: dict) -> dict:
    """One candidate through the open-source RTL route (see :func:`exact_rtl_model` and :func:`_rtl`).

    Returns ``{"name", "yosys", "rtl"}`` (``yosys`` None and ``rtl.skipped`` saying why when there is no exact
    RTL model).
    """
    from trigger_hgq.export.report import read_report

    t0 = time.perf_counter()
    data, model, _ = load_candidate(spec)
    x = data["x_test"][: int(spec["export"].get("n_check", 10000))]
    rtl_model, exact = exact_rtl_model(model, spec["method"], x)
    if rtl_model is None:
        return {"name": spec["name"], "yosys": None, "rtl": {"skipped": exact}}
    estimate_lut = (read_report(spec["out"]).get("estimate") or {}).get("lut")  # the HLS export's, kept by build_rtl
    out = _rtl(rtl_model, spec, x, spec.get("ebops"), estimate_lut)
    out["rtl"]["conversion_exact_fraction"] = exact
    if exact is not None and exact < 1.0:
        out["rtl"]["marked"] = True
    if spec.get("hls_da"):
        out["hls_da"] = _hls_da(rtl_model, spec, x)
    out["rtl"]["seconds"] = round(time.perf_counter() - t0, 1)
    return {"name": spec["name"], **out}


HLS_DA_FIELDS = ("lut", "dsp", "ff", "latency_cycles", "latency_ns", "bit_exact_fraction", "n_checked",
                 "resource_source", "latency_source")


def _hls_da(model, spec: dict, x: np.ndarray) -> dict:
    """hls4ml's own distributed-arithmetic flavour (``strategy: distributed_arithmetic``, io_parallel, da4ml
    kernels) of the RTL model, in ``<firmware>/hls_da``: its estimate and its C-simulation check on ``x``, or
    ``skipped`` naming why hls4ml refused it (a layer the strategy does not support)."""
    from trigger_hgq.errors import TriggerHGQError
    from trigger_hgq.export import to_hls4ml

    opts = spec["export"]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exported = to_hls4ml(model, Path(spec["out"]) / "hls_da", x=x, strategy="distributed_arithmetic",
                                 io_type="io_parallel", backend=opts.get("backend", "Vitis"), part=spec["part"],
                                 clock_ns=spec["clock_ns"], n_check=len(x), require_exact=False)
    except (TriggerHGQError, AssertionError, KeyError, ValueError, NotImplementedError) as err:
        return {"skipped": f"{type(err).__name__}: {err}"[:300]}
    return {k: exported.report.get(k) for k in HLS_DA_FIELDS}


def quantizes_inputs(model) -> bool:
    """The model's first layer is a QKeras input quantizer (QActivation)."""
    first = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"][0]
    return type(first).__name__ == "QActivation"


def logits_model(model):
    """The model without a final softmax: the firmware outputs logits (hls4ml's table softmax is never exact, and
    the trigger decision only needs the argmax or a threshold on the logits)."""
    tf = _tf()
    last = model.layers[-1]
    if getattr(last, "activation", None) is tf.keras.activations.softmax and not last.get_weights():
        return tf.keras.Model(model.inputs, model.layers[-2].output, name=f"{model.name}_logits")
    return model


def ends_in_softmax(model) -> bool:
    """The model's last layer applies a softmax (a Keras activation or a QKeras ``QActivation('softmax')``)."""
    tf = _tf()
    act = getattr(model.layers[-1], "activation", None)
    if act is tf.keras.activations.softmax:
        return True
    name = act if isinstance(act, str) else getattr(act, "__name__", None) or type(act).__name__
    return str(name).lower() in ("softmax", "quantized_softmax")


def outputs_logits(model, method: str) -> bool:
    """Whether ``model`` outputs logits: HGQ models always do (the conversion drops the output softmax); a
    baseline does unless its last layer is a softmax."""
    return method == "hgq" or not ends_in_softmax(model)


def load_candidate(spec: dict):
    """The dataset arrays, the candidate model of ``spec`` and, for an HGQ model, its report ``overflow`` entry:
    HGQ models are calibrated on train + val rows with ``spec['margin_bits']`` of headroom
    (:func:`calibrate_hgq`), the same for the HLS export and the RTL route."""
    tf = _tf()
    from trigger_hgq.convert.io import load_model

    data = load_arrays(spec["arrays"])
    tf.keras.backend.clear_session()
    model = load_model(spec["path"])
    overflow = calibrate_hgq(model, data, int(spec.get("margin_bits", 1))) if spec["method"] == "hgq" else None
    return data, model, overflow


@pipeline_task
def export_task(spec: dict) -> dict:
    """Calibrate (HGQ), evaluate on the test split and export one candidate to firmware with its C-sim check.

    Returns the candidate's model entry of the pipeline report.
    """
    from trigger_hgq.baselines.qkeras_models import quantizer_specs
    from trigger_hgq.export import to_hls4ml
    from trigger_hgq.report.summarize import roc_per_class

    t0 = time.perf_counter()
    data, model, overflow = load_candidate(spec)
    method = spec["method"]
    scores = model.predict(data["x_test"], batch_size=16384, verbose=0)
    accuracy = float(np.mean(np.argmax(scores, axis=1) == data["y_test"]))
    # ROC/AUC on class probabilities for every model: logits go through a softmax first
    auc, roc = roc_per_class(data["y_test"], scores, list(spec["classes"]), logits=outputs_logits(model, method))
    ebops = _model_ebops(model, method, data["x_train"][:20000])
    opts = spec["export"]
    # a QKeras model that quantizes its inputs itself gets a wide firmware input, so that this step is exact too
    input_precision = QKERAS_INPUT_PRECISION if quantizes_inputs(model) else None
    with contextlib.redirect_stdout(io.StringIO()):
        exported = to_hls4ml(logits_model(model), spec["out"], x=data["x_test"], input_precision=input_precision,
                             n_check=int(opts.get("n_check", 10000)),
                             backend=opts.get("backend", "Vitis"), part=spec["part"], clock_ns=spec["clock_ns"],
                             io_type=opts.get("io_type", "io_parallel"), strategy=opts.get("strategy", "Latency"))
    rep = exported.report
    entry = {
        "name": spec["name"], "method": method, "accuracy": accuracy, "auc": auc, "ebops": int(ebops),
        **{k: rep.get(k) for k in ("lut", "dsp", "ff", "bram", "latency_cycles", "latency_ns", "ii",
                                   "resource_source", "latency_source", "bit_exact_fraction", "n_checked")},
        "firmware_dir": str(spec["out"]), "pareto_front": bool(spec.get("pareto_front", False)),
        "roc": roc, "bits_histogram": _bits_histogram(model) if method == "hgq" else None, "overflow": overflow,
        "quantizers": quantizer_specs(model) if method in ("qkeras", "autoqkeras") else None,
        "autoqkeras": spec.get("autoqkeras"),
        "export_seconds": time.perf_counter() - t0,
    }
    return entry
