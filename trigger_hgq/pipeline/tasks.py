"""The pipeline's independent units of work: top-level functions of a small spec (a frozen dataclass of paths and
numbers, picklable for a Dask worker or a spawned process).

They run the same in this process or in a worker: each reads its inputs from files, seeds Keras (and its backend),
asks the backend for deterministic ops, and returns a JSON-serialisable dict. A candidate's export or RTL task
that fails returns its failure record (``{"name", "method", "failed": {"stage", "error", ...}}``) instead of
raising, so that the other candidates finish.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from trigger_hgq.progress import Progress, keras_progress
from trigger_hgq.verbosity import keras_verbose, quiet_warnings, set_verbosity, verbosity


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """What every task gets: the run's dataset arrays (.npz), the verbosity and a label for its progress bar."""

    arrays: str
    verbose: int | None = None
    label: str | None = None

    def load_arrays(self) -> dict[str, np.ndarray]:
        """``x_train, y_train, x_val, y_val, x_select, y_select, x_test, y_test`` (the selection split may have
        no rows)."""
        with np.load(self.arrays) as data:
            return {k: data[k] for k in data.files}


@dataclass(frozen=True, kw_only=True)
class BaselineSpec(TaskSpec):
    """Train the float/QKeras baseline of the YAML ``config`` (``epochs`` overrides its own) into ``out`` (.keras);
    ``baseline``: that config as the run parsed it (:class:`trigger_hgq.pipeline.inputs.Baseline`; else it is read
    from ``config``)."""

    config: str
    out: str
    baseline: Any = None
    epochs: int | None = None
    seed: int = 0
    init_weights: str | None = None


@dataclass(frozen=True, kw_only=True)
class HgqSpec(TaskSpec):
    """Train one HGQ model (:func:`trigger_hgq.models.hgq_start_model` of ``start`` / ``config``, the baseline
    config as loaded or its path) with the beta ``schedule`` (:class:`trigger_hgq.training.HGQSchedule` fields);
    its front goes to ``front_dir``."""

    start: str
    schedule: dict[str, Any]
    front_dir: str
    config: str | dict[str, Any] | None = None
    warm_start: bool = False
    lr_scale: float | None = None
    bar_position: int | None = None


@dataclass(frozen=True, kw_only=True)
class CandidateSpec(TaskSpec):
    """One candidate model (``path``, made by ``method``) and its firmware folder ``out``. HGQ models are
    calibrated on train + val with ``margin_bits`` of headroom. ``export``: the config's export options."""

    name: str
    method: str
    path: str
    out: str
    part: str
    clock_ns: float
    margin_bits: int = 1
    export: dict[str, Any] = field(default_factory=dict)

    @property
    def n_check(self) -> int:
        return int(self.export.get("n_check", 10000))

    def load(self):
        """The dataset arrays, the model and, for an HGQ model, its report ``overflow`` entry (calibrated,
        :func:`trigger_hgq.models.calibrate_hgq`: the same for the HLS export and the RTL route)."""
        import keras

        from trigger_hgq.convert.io import load_model
        from trigger_hgq.models import calibrate_hgq

        data = self.load_arrays()
        keras.backend.clear_session()
        model = load_model(self.path)
        overflow = calibrate_hgq(model, data, self.margin_bits) if self.method == "hgq" else None
        return data, model, overflow


@dataclass(frozen=True, kw_only=True)
class ExportSpec(CandidateSpec):
    """Export a candidate: its test figures need the dataset's ``classes``; ``pareto_front`` and ``autoqkeras``
    (the search behind an AutoQKeras model) are copied into its report entry."""

    classes: tuple[str, ...]
    pareto_front: bool = False
    autoqkeras: dict[str, Any] | None = None
    trained: dict[str, Any] | None = None
    """How a baseline was trained (report fields ``training`` and ``sparsity``), copied into its entry."""


@dataclass(frozen=True, kw_only=True)
class RtlSpec(CandidateSpec):
    """The RTL route of an exported candidate (``ebops``: its EBOPs; ``hls_da``: also hls4ml's DA flavour)."""

    ebops: int | None = None
    hls_da: bool = False


S = TypeVar("S", bound=TaskSpec)


def pipeline_task(fn: Callable[[S], dict]) -> Callable[[S], dict]:
    """A task: the spec's ``verbose`` level applies (also in a worker), the Keras backend logs only errors
    (warnings with ``-v``) (:func:`configure_backend`), and harmless third-party warnings
    raised while it runs are dropped (:func:`trigger_hgq.verbosity.quiet_warnings`)."""

    @functools.wraps(fn)
    def task(spec: S) -> dict:
        if spec.verbose is not None:
            set_verbosity(int(spec.verbose))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        configure_backend()
        with quiet_warnings():
            return fn(spec)

    return task


def configure_backend() -> None:
    """Backend settings of a worker (:func:`trigger_hgq.backend.configure_worker`): quiet logs at verbosity 0."""
    from trigger_hgq.backend import configure_worker

    configure_worker(quiet=verbosity() == 0)


def candidate_task(stage: str) -> Callable[[Callable[[CandidateSpec], dict]], Callable[[CandidateSpec], dict]]:
    """A :func:`pipeline_task` on one candidate whose exception becomes its failure record: ``{"name", "method",
    "failed": {"stage", "error", "first_mismatch_row", "layer"}}`` (``error``: the exception's type and message,
    ``traceback`` its last frames)."""

    def wrap(fn: Callable[[CandidateSpec], dict]) -> Callable[[CandidateSpec], dict]:
        @functools.wraps(fn)
        def task(spec: CandidateSpec) -> dict:
            try:
                return fn(spec)
            except Exception as err:  # noqa: BLE001 - one candidate's failure must not stop the others
                return {"name": spec.name, "method": spec.method,
                        "failed": {"stage": stage, "error": f"{type(err).__name__}: {err}"[:2000],
                                   "first_mismatch_row": None, "layer": None,
                                   "traceback": "".join(traceback.format_exception(err, limit=-4))[-4000:]}}

        return pipeline_task(task)

    return wrap


@pipeline_task
def train_baseline_task(spec: BaselineSpec) -> dict:
    """Train one float/QKeras baseline from its YAML config (pruned when it has ``pruning``, from the weights at
    ``spec.init_weights`` if given); save it to ``spec.out`` (.keras)."""
    import keras

    from trigger_hgq.baselines.pruning import prune_baseline
    from trigger_hgq.baselines.qkeras_models import build_qkeras_model, train_baseline
    from trigger_hgq.convert.io import save_model
    from trigger_hgq.models import class_accuracy, select_figures
    from trigger_hgq.pipeline.inputs import Baseline

    t0 = time.perf_counter()
    baseline = spec.baseline if spec.baseline is not None else Baseline.read(Path(spec.config))
    config = baseline.config_copy()
    policy = baseline.policy
    if spec.epochs is not None:
        config.setdefault("training", {})["epochs"] = int(spec.epochs)
        policy = dataclasses.replace(policy, epochs=int(spec.epochs))
    data = spec.load_arrays()
    keras.backend.clear_session()
    keras.utils.set_random_seed(int(spec.seed))
    model = build_qkeras_model(config, data["x_train"].shape[1:])
    name = baseline.name
    epochs = policy.epochs
    if baseline.pruning is not None:
        dense = None if spec.init_weights else policy
        epochs = baseline.pruning.capped(spec.epochs).max_epochs(dense)
    fit = (data["x_train"], data["y_train"], data["x_val"], data["y_val"])
    extra = {}
    with Progress(epochs, spec.label or f"baseline {name}", unit="epoch") as bar:
        bars = [keras_progress(bar, ("loss", "val_accuracy"))]
        if baseline.pruning is not None:
            model, run = prune_baseline(model, config, *fit, init_weights=spec.init_weights,
                                        epochs_cap=spec.epochs, verbose=keras_verbose(), callbacks=bars,
                                        settings=baseline.pruning, policy=policy)
            extra = {"sparsity": run.sparsity, "phase_epochs": {k: r.epochs_run for k, r in run.phases.items()}}
        else:
            run = train_baseline(model, config, *fit, verbose=keras_verbose(), callbacks=bars, policy=policy)
    save_model(model, spec.out)
    return {"name": name,
            "method": "qkeras" if config.get("quantization") else "float",
            "path": str(spec.out), "config": str(spec.config), "epochs": run.epochs_run,
            "training": {"epochs_run": run.epochs_run, "best_epoch": run.best_epoch, "epoch_cap": epochs}, **extra,
            "val_accuracy": class_accuracy(model, data["x_val"], data["y_val"]), **select_figures(model, data),
            "seconds": time.perf_counter() - t0}


@pipeline_task
def train_hgq_task(spec: HgqSpec) -> dict:
    """Build the starting HGQ model and train it with the beta schedule; returns its Pareto front."""
    import keras

    from trigger_hgq.convert.io import load_model
    from trigger_hgq.models import hgq_start_model, select_figures
    from trigger_hgq.training import HGQSchedule, train_hgq

    t0 = time.perf_counter()
    data = spec.load_arrays()
    keras.backend.clear_session()
    schedule = HGQSchedule(**spec.schedule)
    keras.utils.set_random_seed(schedule.seed)
    model = hgq_start_model(spec.start, spec.config, schedule.seed, warm_start=spec.warm_start,
                            lr_scale=spec.lr_scale, input_shape=data["x_train"].shape[1:])
    with Progress(schedule.epochs, spec.label or f"HGQ seed {schedule.seed}", unit="epoch",
                  position=spec.bar_position) as bar:
        front = train_hgq(model, (data["x_train"], data["y_train"]), (data["x_val"], data["y_val"]), schedule,
                          spec.front_dir, verbose=keras_verbose(),
                          callbacks=[keras_progress(bar, ("beta", "ebops", "val_accuracy"))])
    has_select = len(data.get("y_select", ())) > 0
    for point in front:  # scored on the selection rows, which neither the training nor the front's choice saw
        point["path"] = str(Path(spec.front_dir) / point["path"])
        point["seed"] = schedule.seed
        if has_select:  # no checkpoint is read back without selection rows
            keras.backend.clear_session()
            point.update(select_figures(load_model(point["path"]), data))
    return {"front": front, "seconds": time.perf_counter() - t0}


@candidate_task("export")
def export_task(spec: ExportSpec) -> dict:
    """Calibrate (HGQ), evaluate on the validation, selection and test splits and export one candidate to firmware
    with its C-sim check.

    Returns the candidate's model entry of the pipeline report, or its failure record (an HGQ model whose C
    simulation is not bit-exact: :func:`trigger_hgq.export.candidate.csim_failure`).
    """
    from trigger_hgq.baselines.qkeras_models import quantizer_specs
    from trigger_hgq.export.candidate import csim_failure, export_candidate
    from trigger_hgq.models import (
        PREDICT_BATCH,
        bits_histogram,
        class_accuracy,
        model_ebops,
        outputs_logits,
        select_figures,
    )
    from trigger_hgq.report.summarize import roc_per_class

    t0 = time.perf_counter()
    data, model, overflow = spec.load()
    method = spec.method
    scores = model.predict(data["x_test"], batch_size=PREDICT_BATCH, verbose=0)
    accuracy = float(np.mean(np.argmax(scores, axis=1) == data["y_test"]))
    val_accuracy = class_accuracy(model, data["x_val"], data["y_val"])  # the exported model's
    selection = select_figures(model, data, packed=True)  # the match's (:mod:`trigger_hgq.comparison`)
    # ROC/AUC on class probabilities for every model: logits go through a softmax first
    auc, roc = roc_per_class(data["y_test"], scores, list(spec.classes), logits=outputs_logits(model, method))
    ebops = model_ebops(model, method, data["x_train"][:20000])
    opts = spec.export
    exported = export_candidate(model, spec.out, data["x_test"], part=spec.part, clock_ns=spec.clock_ns,
                                n_check=spec.n_check, backend=opts.get("backend", "Vitis"),
                                io_type=opts.get("io_type", "io_parallel"), strategy=opts.get("strategy", "Latency"))
    rep = exported.report
    failure = csim_failure(rep, method)
    if failure is not None:
        return {"name": spec.name, "method": method, "failed": failure}
    return {
        "name": spec.name, "method": method, "accuracy": accuracy, "val_accuracy": val_accuracy, **selection,
        "auc": auc,
        "ebops": int(ebops),
        **{k: rep.get(k) for k in ("lut", "dsp", "ff", "bram", "latency_cycles", "latency_ns", "ii",
                                   "resource_source", "latency_source", "bit_exact_fraction", "n_checked")},
        "firmware_dir": str(spec.out), "pareto_front": bool(spec.pareto_front),
        "roc": roc, "bits_histogram": bits_histogram(model) if method == "hgq" else None, "overflow": overflow,
        "quantizers": quantizer_specs(model) if method in ("qkeras", "autoqkeras") else None,
        "autoqkeras": spec.autoqkeras, **(spec.trained or {}),
        "export_seconds": time.perf_counter() - t0,
    }


@candidate_task("rtl")
def rtl_task(spec: RtlSpec) -> dict:
    """One candidate through the open-source RTL route (:func:`trigger_hgq.export.rtl.candidate.exact_rtl_model`,
    :func:`trigger_hgq.export.rtl.candidate.rtl_figures`).

    Returns ``{"name", "yosys", "rtl"}`` (``yosys`` None and ``rtl.skipped`` saying why when there is no exact
    RTL model), or the candidate's failure record.
    """
    from trigger_hgq.export.report import read_report
    from trigger_hgq.export.rtl.candidate import exact_rtl_model, hls_da_figures, rtl_figures

    t0 = time.perf_counter()
    data, model, _ = spec.load()
    x = data["x_test"][: spec.n_check]
    rtl_model, exact = exact_rtl_model(model, spec.method, x)
    if rtl_model is None:
        return {"name": spec.name, "yosys": None, "rtl": {"skipped": exact}}
    estimate_lut = (read_report(spec.out).get("estimate") or {}).get("lut")  # the HLS export's, kept by build_rtl
    out = rtl_figures(rtl_model, spec.out, x, clock_ns=spec.clock_ns, part=spec.part, n_check=spec.n_check,
                      ebops=spec.ebops, estimate_lut=estimate_lut)
    out["rtl"]["conversion_exact_fraction"] = exact
    if exact is not None and exact < 1.0:
        out["rtl"]["marked"] = True
    if spec.hls_da:
        out["hls_da"] = hls_da_figures(rtl_model, Path(spec.out) / "hls_da", x,
                                       backend=spec.export.get("backend", "Vitis"), part=spec.part,
                                       clock_ns=spec.clock_ns)
    out["rtl"]["seconds"] = round(time.perf_counter() - t0, 1)
    return {"name": spec.name, **out}
