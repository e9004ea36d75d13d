"""The report.json schema (version 1) and its validation.

The schema is declared once, as data (:data:`REPORT_SPEC`), and documented in ``docs/report_schema.md``.
:func:`validate_report` checks types, ranges and enums, then the cross-field rules (names that must refer to models,
``lut_equiv == lut + 55 * dsp``, ``within_budget`` against ``budget_violations``, the selection against
``nothing_fits``). It returns a normalised copy (numpy scalars and arrays become Python numbers and lists, tuples
become lists, optional keys get their ``None`` default) that ``json.dumps`` writes as strict JSON. Keys beyond the
schema are kept as they are. The first problem found raises :class:`ReportSchemaError`, whose message names its key
path, e.g. ``models[3].auc.t``.
"""

from __future__ import annotations

from typing import Any

from trigger_hgq.fpga import DSP_LUT_EQUIV
from trigger_hgq.schema import (
    Bool,
    Enum,
    Float,
    Int,
    IsoTime,
    ListOf,
    MapOf,
    Nullable,
    Obj,
    SchemaError,
    Spec,
    Str,
    validate,
)

SCHEMA_VERSION = 1
METHODS = ("float", "qkeras", "autoqkeras", "hgq")
SOURCES = ("estimate", "csynth", "vsynth", "impl", "yosys")

__all__ = ["ReportSchemaError", "Spec", "validate_report", "iter_fields", "REPORT_SPEC", "SCHEMA_VERSION"]


class ReportSchemaError(SchemaError):
    """A report dict that does not follow the schema; ``path`` is the offending key path (``""`` for the root)."""

    default_source = "report"


def _nfloat(**kw) -> Nullable:
    return Nullable(Float(**kw))


def _nint() -> Nullable:
    return Nullable(Int())


FRACTION = dict(lo=0.0, hi=1.0, hint=" (a fraction, not a percentage)")

ROC_SPEC = Obj({
    "fpr": (ListOf(Float(**FRACTION), nonempty=True), True, "false positive rate (background efficiency)"),
    "tpr": (ListOf(Float(**FRACTION), nonempty=True), True, "true positive rate (signal efficiency)"),
})
BITS_SPEC = Obj({
    "weights": (Nullable(MapOf(Int(), key_doc="bits", int_keys=True)), False,
                "number of weights per bitwidth (0 = pruned); absent for layers without weights"),
    "activations": (MapOf(Int(), key_doc="bits", int_keys=True), True, "number of activations per bitwidth"),
})
OVERFLOW_SPEC = Obj({
    "margin_bits": (Int(), True, "integer bits of headroom beyond the calibrated ranges (wrapping activations)"),
    "test_rows_outside_calibration": (Int(), True, "test rows that leave a calibrated (train+val) activation range"),
    "test_rows_wrapping": (Int(), True, "test rows that wrap around somewhere despite the margin"),
    "test_class_flips": (Int(), True, "test rows whose class changes by wrap-around (against the model with none)"),
})
QUANTIZERS_SPEC = Obj({
    "kernel": (Nullable(Str()), True, "weight quantizer, as QKeras writes it"),
    "bias": (Nullable(Str()), True, "bias quantizer"),
    "activation": (Nullable(Str()), True, "activation quantizer (a QActivation layer)"),
    "units": (_nint(), True, "output units / filters"),
})
AUTOQKERAS_SPEC = Obj({
    "trials": (Int(), True, "search trials run"),
    "best_trial": (Nullable(Str()), True, "the tuner's id of the best trial"),
    "search_val_accuracy": (_nfloat(**FRACTION), True, "validation accuracy of the best trial (short training)"),
    "search_test_accuracy": (_nfloat(**FRACTION), True, "test accuracy of the best trial, before retraining"),
    "retrained_epochs": (_nint(), True, "epochs of the final training (null: not retrained)"),
})
YOSYS_SPEC = Obj({
    **{k: (Int(), True, f"{k.upper()} cells") for k in ("lut", "ff", "carry", "dsp")},
    "lut_levels": (_nint(), False, "most LUTs on one register-to-register path (the longest stage)"),
    "seconds": (_nfloat(lo=0.0), False, "yosys wall time in s"),
})
RTL_SPEC = Obj({
    "latency_cycles": (_nint(), False, "pipeline stages: latency in clock cycles (II = 1)"),
    "latency_ns": (_nfloat(lo=0.0), False, "latency in ns at the budget's clock"),
    "bit_exact_fraction": (_nfloat(**FRACTION), False, "fraction of checked inputs where Verilator == the model"),
    "n_checked": (_nint(), False, "inputs simulated"),
    "conversion_exact_fraction": (_nfloat(**FRACTION), False,
                                  "QKeras / AutoQKeras: fraction of checked inputs where the converted model's "
                                  "logits equal the QKeras model's (null for HGQ models)"),
    "marked": (Nullable(Bool()), False, "the RTL is not proven equal to the model (a check below 100%)"),
    "adders_per_stage": (_nfloat(lo=0.0), False, "adder levels between registers (da4ml's latency cutoff)"),
    "max_lut_levels": (_nint(), False, "LUT levels that fit one clock period in the timing model"),
    "longest_stage_lut_levels": (_nint(), False, "LUT levels of the longest stage (yosys netlist)"),
    "critical_path_ns": (_nfloat(lo=0.0), False, "the slowest stage's delay in the timing model"),
    "meets_clock": (Nullable(Bool()), False, "the longest stage fits the clock period in the timing model"),
    "pipelinings_tried": (_nint(), False, "pipelinings synthesized until the longest stage fit (timing closure)"),
    "skipped": (Nullable(Str()), False, "why the RTL route did not run for this model"),
})

HLS_DA_SPEC = Obj({
    **{k: (_nint(), False, d) for k, d in (("lut", "LUTs (da4ml kernels + casts)"), ("dsp", "DSP blocks"),
                                           ("ff", "flip-flops"), ("latency_cycles", "latency in clock cycles"),
                                           ("n_checked", "inputs compared in the C simulation"))},
    "latency_ns": (_nfloat(lo=0.0), False, "latency in ns"),
    "bit_exact_fraction": (_nfloat(**FRACTION), False, "fraction of checked inputs where the C simulation == model"),
    "resource_source": (Nullable(Enum(values=SOURCES)), False, "where LUT/DSP/FF come from"),
    "latency_source": (Nullable(Enum(values=SOURCES)), False, "where the latency comes from"),
    "skipped": (Nullable(Str()), False, "why hls4ml refused the strategy for this model"),
})

TRAINING_SPEC = Obj({
    "epochs_run": (Int(lo=0), True, "epochs trained (early stopping ends before the cap)"),
    "best_epoch": (Nullable(Int(lo=1)), True, "the epoch whose weights were restored (1-based)"),
    "epoch_cap": (Nullable(Int(lo=1)), False, "the policy's epoch cap"),
    "seed": (Nullable(Int(lo=None)), False, "the seed kept (the best validation accuracy of baselines.seeds)"),
    "seed_val_accuracy": (MapOf(Float(**FRACTION), key_doc="seed"), False,
                          "validation accuracy of every seed trained"),
})

MODEL_SPEC = Obj(name_key="name", fields={
    "name": (Str(), True, "unique model name"),
    "method": (Enum(values=METHODS), True, "how the model was made"),
    "accuracy": (Float(**FRACTION), True, "test accuracy, a fraction in [0, 1]"),
    "val_accuracy": (_nfloat(**FRACTION), False, "validation accuracy of the exported model (early stopping and "
                                                  "the Pareto front chose on this split)"),
    "select_accuracy": (_nfloat(**FRACTION), False, "accuracy of the exported model on the selection split (the "
                                                     "comparison and the selection choose on it)"),
    "n_select": (_nint(), False, "rows of the selection split"),
    "training": (Nullable(TRAINING_SPEC), False, "how a baseline was trained: epochs run, best epoch restored"),
    "sparsity": (_nfloat(**FRACTION), False, "fraction of zero kernel weights (pruned baselines)"),
    "auc": (MapOf(Float(**FRACTION), key_doc="class"), True, "ROC AUC per class (one-vs-rest)"),
    "ebops": (_nint(), True, "effective bit operations"),
    "lut": (_nint(), True, "LUTs"),
    "dsp": (_nint(), True, "DSP blocks"),
    "ff": (_nint(), True, "flip-flops"),
    "bram": (_nfloat(lo=0.0), True, "BRAM blocks (18k = 0.5)"),
    "lut_equiv": (_nfloat(lo=0.0), True, f"LUT + {DSP_LUT_EQUIV} x DSP"),
    "latency_cycles": (_nint(), True, "latency in clock cycles"),
    "latency_ns": (_nfloat(lo=0.0), True, "latency in ns"),
    "ii": (_nint(), True, "initiation interval in cycles"),
    "resource_source": (Enum(values=SOURCES), True, "where LUT/DSP/FF come from"),
    "latency_source": (Enum(values=SOURCES), True, "where the latency comes from"),
    "yosys": (Nullable(YOSYS_SPEC), False, "open-source synthesis counts next to the estimate"),
    "rtl": (Nullable(RTL_SPEC), False, "the open-source RTL route (da4ml, yosys, Verilator)"),
    "hls_da": (Nullable(HLS_DA_SPEC), False, "hls4ml's distributed_arithmetic flavour: estimate and C-sim check"),
    "bit_exact_fraction": (_nfloat(**FRACTION), True, "fraction of checked inputs where firmware == Keras"),
    "n_checked": (_nint(), True, "number of inputs compared for bit-exactness"),
    "within_budget": (Bool(), True, "fits the latency (and LUT/DSP) budget"),
    "budget_violations": (ListOf(Str()), True, "why not, e.g. 'latency 24 cycles > 20'"),
    "firmware_dir": (Nullable(Str()), True, "the hls4ml project"),
    "pareto_front": (Bool(), True, "an HGQ point on the (accuracy, EBOPs) Pareto front"),
    "roc": (Nullable(MapOf(ROC_SPEC, key_doc="class")), False, "ROC curve per class (selected models)"),
    "bits_histogram": (Nullable(MapOf(BITS_SPEC, key_doc="layer")), False, "bitwidth counts per layer (HGQ)"),
    "quantizers": (Nullable(MapOf(QUANTIZERS_SPEC, key_doc="layer")), False,
                   "per-layer quantizers (QKeras and AutoQKeras models)"),
    "autoqkeras": (Nullable(AUTOQKERAS_SPEC), False, "the AutoQKeras search behind the model"),
    "overflow": (Nullable(OVERFLOW_SPEC), False, "overflow headroom of the calibrated ranges on the test rows (HGQ)"),
})

FAILED_SPEC = Obj(name_key="name", fields={
    "name": (Str(), True, "the candidate's name"),
    "method": (Enum(values=METHODS), True, "how the model was made"),
    "stage": (Enum(values=("export", "rtl")), True, "the stage it failed in"),
    "error": (Str(), True, "what failed: the exception, or the C simulation's mismatch"),
    "first_mismatch_row": (_nint(), False, "C simulation: the first checked test row whose output differs"),
    "layer": (Nullable(Str()), False, "C simulation: the first hls4ml layer whose output differs"),
})

BASELINE_SPEC = Obj({
    "baseline": (Str(), True, "baseline model name"),
    "accuracy_baseline": (Float(**FRACTION), True, "the baseline's accuracy"),
    "hgq_model": (Nullable(Str()), False, "the HGQ model of this row: the cheapest reaching the baseline's "
                                          "accuracy within the tolerance (None: none does; see closest_hgq)"),
    "accuracy_hgq": (_nfloat(**FRACTION), True, "the HGQ model's test accuracy"),
    "val_accuracy_baseline": (_nfloat(**FRACTION), False, "the baseline's validation accuracy (the match's target)"),
    "val_accuracy_hgq": (_nfloat(**FRACTION), False, "the matched HGQ model's validation accuracy"),
    "select_accuracy_baseline": (_nfloat(**FRACTION), False, "the baseline's selection-split accuracy (the match's "
                                                              "target under the select rule)"),
    "select_accuracy_hgq": (_nfloat(**FRACTION), False, "the matched HGQ model's selection-split accuracy"),
    "match_difference": (_nfloat(), False, "HGQ minus baseline accuracy on the rule's split (fraction)"),
    "match_difference_stderr": (_nfloat(lo=0.0), False, "standard error of match_difference, paired over the "
                                                         "selection rows"),
    "accuracy_baseline_stderr": (_nfloat(lo=0.0), False, "binomial standard error of the baseline's test accuracy"),
    "accuracy_hgq_stderr": (_nfloat(lo=0.0), False, "binomial standard error of the HGQ model's test accuracy"),
    "within_model": (Nullable(Str()), False, "the cheapest HGQ model within the looser tolerance "
                                             "(within_tolerance) on validation"),
    "within_ebops_ratio": (_nfloat(positive=True), False, "baseline EBOPs / within_model's EBOPs"),
    "ebops_hgq": (_nint(), False, "the HGQ model's EBOPs"),
    "ebops_ratio": (_nfloat(positive=True), True, "baseline EBOPs / HGQ EBOPs"),
    "lut_equiv_ratio": (_nfloat(positive=True), True, "baseline LUT-equivalent / HGQ LUT-equivalent"),
    "latency_ratio": (_nfloat(positive=True), True, "baseline latency / HGQ latency"),
    "note": (Nullable(Str()), False, "why the row has no ratios, e.g. no HGQ point reaches the accuracy"),
    "closest_hgq": (Nullable(Str()), False, "where no HGQ model reaches the baseline: the most accurate one "
                                            "(validation)"),
    "closest_val_accuracy_hgq": (_nfloat(**FRACTION), False, "closest_hgq's validation accuracy"),
    "val_accuracy_below": (_nfloat(), False, "how far closest_hgq is below the baseline on validation (fraction)"),
    "closest_select_accuracy_hgq": (_nfloat(**FRACTION), False, "closest_hgq's selection-split accuracy"),
    "select_accuracy_below": (_nfloat(), False, "how far closest_hgq is below the baseline on the selection split "
                                                "(fraction)"),
    "hls_source": (Nullable(Str()), False, "where the HLS-route figures of the ratios come from"),
    "rtl_lut_ratio": (_nfloat(positive=True), False, "RTL route: baseline yosys LUT / HGQ yosys LUT"),
    "rtl_lut_equiv_ratio": (_nfloat(positive=True), False, "RTL route: baseline / HGQ yosys LUT + 55 x DSP"),
    "rtl_latency_ratio": (_nfloat(positive=True), False, "RTL route: baseline / HGQ pipeline latency (cycles)"),
})

REPORT_SPEC = Obj({
    "schema_version": (Enum(values=(SCHEMA_VERSION,)), True, "always 1"),  # type: ignore[arg-type]
    "created": (IsoTime(), True, "when the report was made"),
    "dataset": (Obj({
        "name": (Str(), True, "dataset name"),
        "source": (Str(), True, "dataset card or file path"),
        "n_train": (Int(), True, "training examples"),
        "n_val": (Int(), True, "validation examples"),
        "n_test": (Int(), True, "test examples"),
        "n_select": (_nint(), False, "selection-split examples (the comparison and the selection choose on them)"),
        "features": (ListOf(Str(), nonempty=True), True, "input feature names (per particle with n_particles)"),
        "classes": (ListOf(Str(), nonempty=True), True, "class names"),
        "n_particles": (Nullable(Int()), False, "constituent-level models: the leading particles per jet"),
        "input_shape": (Nullable(ListOf(Int())), False, "the model input shape without the batch axis"),
        "mirrors": (Nullable(ListOf(Str())), False, "constituent-level runs: the planes the training jets were "
                                                    "also mirrored in (n_train counts the images)"),
        "n_train_jets": (_nint(), False, "with mirrors: the training jets before mirroring"),
    }), True, "what the models were trained on"),
    "budget": (Obj({
        "latency_ns": (Float(positive=True), True, "latency budget in ns"),
        "clock_ns": (Float(positive=True), True, "clock period in ns"),
        "part": (Str(), True, "FPGA part"),
        "lut_fraction": (_nfloat(positive=True, hi=1.0), True, "LUT budget as a fraction of the part"),
        "dsp_fraction": (_nfloat(positive=True, hi=1.0), True, "DSP budget as a fraction of the part"),
        "lut_available": (_nint(), True, "LUTs on the part"),
        "dsp_available": (_nint(), True, "DSPs on the part"),
        "implementation": (Nullable(Enum(values=("hls", "rtl"))), False,
                           "whose figures selection used: hls (estimate / Vivado) or rtl (yosys, da4ml pipeline)"),
    }), True, "the trigger budget"),
    "models": (ListOf(MODEL_SPEC, nonempty=True), True, "every candidate"),
    "selected": (Nullable(Str()), True, "the most accurate model within budget"),
    "closest": (Nullable(Str()), True, "the model nearest to the budget when nothing fits"),
    "nothing_fits": (Bool(), True, "no model is within budget"),
    "selection_reason": (Nullable(Str()), False, "free text added to the derived explanation"),
    "selection_rule": (Nullable(Enum(values=("select", "validation"))), False,
                       "the split whose accuracy picked the selected model (select, or validation without one)"),
    "comparison": (Nullable(Obj({
        "hgq_model": (Str(), True, "the most accurate HGQ model (each row names the one it uses)"),
        "tolerance": (_nfloat(lo=0.0, hi=1.0), False, "accuracy tolerance of the match, a fraction (0 = equal "
                                                        "accuracy, 0.005 = half a point)"),
        "rule": (Nullable(Enum(values=("select", "validation", "test"))), False,
                 "the split the match is chosen on: select (rows no training or front saw), validation (no "
                 "selection split), absent: test, as older reports did"),
        "n_select": (_nint(), False, "selection rows behind the match"),
        "within_tolerance": (_nfloat(lo=0.0, hi=1.0), False, "the looser tolerance of the within_model column"),
        "n_test": (_nint(), False, "test rows behind the standard errors"),
        "baselines": (ListOf(BASELINE_SPEC), True, "one entry per baseline"),
    })), True, "the HGQ model against each baseline; ratios are baseline / HGQ"),
    "failed": (Nullable(ListOf(FAILED_SPEC)), False, "candidates that failed, left out of models and selection"),
    "timings_s": (MapOf(Float(lo=0.0), key_doc="stage"), True, "wall time per pipeline stage in s"),
})


def _cross_checks(rep: dict) -> None:
    """Rules that relate several fields."""
    classes = set(rep["dataset"]["classes"])
    by_name: dict[str, dict] = {}
    for i, m in enumerate(rep["models"]):
        p = f"models[{i}]"
        tag = f" (model {m['name']!r})"
        if m["name"] in by_name:
            raise ReportSchemaError(f"{p}.name", f"duplicate model name{tag}")
        by_name[m["name"]] = m
        for key in ("auc", "roc"):
            for cls in m[key] or {}:
                if cls not in classes:
                    raise ReportSchemaError(f"{p}.{key}.{cls}", f"{cls!r} is not one of dataset.classes{tag}")
        for cls, curve in (m["roc"] or {}).items():
            if len(curve["fpr"]) != len(curve["tpr"]):
                raise ReportSchemaError(f"{p}.roc.{cls}", f"fpr and tpr have different lengths{tag}")
        if m["lut"] is not None and m["dsp"] is not None:
            expect = m["lut"] + DSP_LUT_EQUIV * m["dsp"]
            if m["lut_equiv"] is None or abs(m["lut_equiv"] - expect) > 1e-6 * max(1.0, expect):
                raise ReportSchemaError(
                    f"{p}.lut_equiv", f"expected lut + {DSP_LUT_EQUIV} * dsp = {expect}, got {m['lut_equiv']}{tag}"
                )
        if m["within_budget"] == bool(m["budget_violations"]):
            state = "true" if m["within_budget"] else "false"
            need = "empty" if m["within_budget"] else "non-empty"
            raise ReportSchemaError(f"{p}.budget_violations", f"within_budget is {state}, so this must be {need}{tag}")
        if m["pareto_front"] and m["method"] != "hgq":
            raise ReportSchemaError(f"{p}.pareto_front", f"only HGQ models can be on the Pareto front{tag}")

    def need_model(path: str, name: str | None) -> dict | None:
        if name is not None and name not in by_name:
            raise ReportSchemaError(path, f"{name!r} is not the name of a model in models")
        return by_name.get(name) if name is not None else None

    selected = need_model("selected", rep["selected"])
    need_model("closest", rep["closest"])
    if rep["nothing_fits"]:
        if rep["selected"] is not None:
            raise ReportSchemaError("selected", "must be null when nothing_fits is true")
        if rep["closest"] is None:
            raise ReportSchemaError("closest", "must name the closest model when nothing_fits is true")
        fitting = [m["name"] for m in rep["models"] if m["within_budget"]]
        if fitting:
            raise ReportSchemaError("nothing_fits", f"is true but {fitting[0]!r} is within_budget")
    else:
        if selected is None:
            raise ReportSchemaError("selected", "must name a model when nothing_fits is false")
        if not selected["within_budget"]:
            raise ReportSchemaError("selected", f"{rep['selected']!r} is not within_budget")
    comp = rep["comparison"]
    if comp is not None:
        hgq = need_model("comparison.hgq_model", comp["hgq_model"])
        if hgq["method"] != "hgq":
            raise ReportSchemaError("comparison.hgq_model", f"{comp['hgq_model']!r} is a {hgq['method']} model")
        for j, b in enumerate(comp["baselines"]):
            need_model(f"comparison.baselines[{j}].baseline", b["baseline"])
            row_hgq = need_model(f"comparison.baselines[{j}].hgq_model", b["hgq_model"])
            if row_hgq is not None and row_hgq["method"] != "hgq":
                raise ReportSchemaError(f"comparison.baselines[{j}].hgq_model",
                                        f"{b['hgq_model']!r} is a {row_hgq['method']} model")
            closest = need_model(f"comparison.baselines[{j}].closest_hgq", b.get("closest_hgq"))
            if closest is not None and closest["method"] != "hgq":
                raise ReportSchemaError(f"comparison.baselines[{j}].closest_hgq",
                                        f"{b['closest_hgq']!r} is a {closest['method']} model")


def validate_report(report: Any) -> dict:
    """Check ``report`` against the schema; return a normalised copy ready for strict JSON."""
    rep = validate(REPORT_SPEC, report, "report", error=ReportSchemaError)
    _cross_checks(rep)
    return rep


def iter_fields(spec: Obj = REPORT_SPEC, prefix: str = "") -> list[tuple[str, str, bool, str]]:
    """(key path, type, required, description) for every declared key, for the documentation."""
    rows = []
    for key, f in spec.fields.items():
        sub, required, desc = f.spec, f.required, f.doc
        path = f"{prefix}.{key}" if prefix else key
        rows.append((path, sub.doc, required, desc))
        inner = sub.inner if isinstance(sub, Nullable) else sub
        if isinstance(inner, ListOf) and isinstance(inner.item, Obj):
            rows.extend(iter_fields(inner.item, f"{path}[]"))
        elif isinstance(inner, MapOf) and isinstance(inner.item, Obj):
            rows.extend(iter_fields(inner.item, f"{path}.<{inner.key_doc}>"))
        elif isinstance(inner, Obj):
            rows.extend(iter_fields(inner, path))
    return rows
