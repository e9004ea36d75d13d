"""The jet-tagging pipeline's stages and their orchestration (resumable, serial or on Dask).

data -> baselines (float + QKeras) and autoqkeras (side by side) -> hgq (Pareto front)
-> export (firmware + C-sim check) -> rtl (open-source RTL route for the candidates in ``export.rtl``)
-> report (selection under the budget, comparison, report.json/.md/.html).
Every stage records its outputs in ``DIR/state.json``; a rerun skips stages whose inputs did not change.
"""

from __future__ import annotations

import concurrent.futures
import functools
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trigger_hgq.atomic import atomic_path, write_json_atomic
from trigger_hgq.comparison import DEFAULT_TOLERANCE, compare, export_matches, rule_of
from trigger_hgq.data.split import SPLITS
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.pareto import dominates, thin_front
from trigger_hgq.pipeline import tasks
from trigger_hgq.pipeline.config import PipelineConfig
from trigger_hgq.pipeline.executor import DaskExecutor, PoolExecutor, SerialExecutor
from trigger_hgq.pipeline.inputs import LoadedInputs, RunInputs
from trigger_hgq.pipeline.particles import check_particles
from trigger_hgq.pipeline.state import RunState
from trigger_hgq.progress import Progress, keras_progress, log
from trigger_hgq.rtl_plan import merge_rtl, rtl_candidates, rtl_settings
from trigger_hgq.selection import select
from trigger_hgq.stage_keys import code_version, dataset_stamp, dependency_versions, fingerprint
from trigger_hgq.verbosity import keras_verbose, quiet_warnings, set_verbosity

RTL_WARMUP_WAIT_S = 600
"""How long the RTL stage waits for the background warm-up of the RTL solver (then its tasks compile it)."""
STAGES = ("data", "baselines", "autoqkeras", "hgq", "export", "rtl", "report")
#: The exit code of a run in which a candidate failed (its export or RTL task raised, or an HGQ model's C
#: simulation is not bit-exact); the other candidates are reported and the failed ones listed in report.json.
EXIT_CANDIDATE_FAILED = 4
#: The exit code of a ``strict`` run in which no model fits the budget.
EXIT_NOTHING_FITS = 3


class Run:
    """One pipeline run in ``out_dir``."""

    def __init__(self, cfg: PipelineConfig, out_dir: str | Path, *, inputs: LoadedInputs,
                 scheduler: str | None = None, force: bool = False, verbose: int = 0):
        """``inputs``: the run's input files as :meth:`RunInputs.load` parsed them (:meth:`reading_inputs` reads
        them). The stages get them from here and never read a config file again; no stage's resume key covers the
        loader (the data stage runs no model code)."""
        self.cfg = cfg
        self.inputs = inputs
        self.out = Path(out_dir).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = RunState(self.out, force=force)
        self.scheduler = scheduler
        self.verbose = verbose
        set_verbosity(verbose)  # before any worker starts: they inherit it
        self._executor = None
        self._rtl_warmup: subprocess.Popen | None = None
        self._key_lock = threading.Lock()

    @classmethod
    def reading_inputs(cls, cfg: PipelineConfig, out_dir: str | Path, **kwargs) -> Run:
        """A run whose input files are read, checked and parsed first, once: bad input fails before anything is
        written."""
        return cls(cfg, out_dir, inputs=RunInputs(cfg).load(), **kwargs)

    @property
    def tolerance(self) -> float:
        """The comparison's validation-accuracy tolerance (config ``comparison.tolerance``)."""
        return float(self.cfg.section("comparison").get("tolerance", DEFAULT_TOLERANCE))

    @property
    def executor(self):
        if self._executor is None:
            self._executor = DaskExecutor(self.scheduler) if self.scheduler else SerialExecutor()
            log(f"executor: {self._executor.name}")
        return self._executor

    def map(self, fn: Callable[[tasks.S], dict], specs: list[tasks.S], what: str, progress: bool = False,
            workers: int = 1) -> list[dict]:
        """Run the tasks; ``progress``: one bar over them (i/N with ETA; for tasks without a bar of their own);
        ``workers > 1``: without ``--scheduler``, in that many local processes (a single task too: this process
        may be training AutoQKeras beside them)."""
        log(f"{what}: {len(specs)} task(s)")
        pool = None
        if self.scheduler is None and workers > 1 and specs:
            pool = PoolExecutor(min(workers, len(specs)))
        executor = pool or self.executor
        try:
            if not progress:
                return executor.map(fn, specs)
            with Progress(len(specs), what, unit="task") as bar:
                return executor.map(fn, specs, on_done=lambda r: bar.update(1, **self.progress_fields(r)))
        finally:
            if pool is not None:
                pool.close()

    @staticmethod
    def progress_fields(result: dict) -> dict:
        """What a stage bar shows of a finished task: its model's name and accuracy, when it has them."""
        return {k: result[k] for k in ("name", "accuracy") if isinstance(result, dict) and k in result}

    # ------------------------------------------------------------------------------------------- stages
    def stage(self, name: str, inputs, fn: Callable[[], dict], after: tuple[str, ...] = ()) -> dict:
        """Run ``fn`` unless ``name`` finished with the same key: its ``inputs``, the code version, the versions
        of the installed stack (:func:`~trigger_hgq.stage_keys.dependency_versions`) and the keys of the stages it
        reads (``after``; a stage that reran with other inputs reruns those after it)."""
        with self._key_lock:  # stages side by side: the source graph behind code_version is not thread-safe
            key = fingerprint(name, inputs, code_version(name), dependency_versions(),
                              [self.state.key(dep) for dep in after])
        done = self.state.done(name, key)
        if done is not None:
            log(f"stage {name}: done earlier, skipped (use --force to rerun)")
            return done
        log(f"stage {name}: start")
        t0 = time.perf_counter()
        outputs = fn()
        seconds = time.perf_counter() - t0
        self.state.record(name, key, outputs, seconds)
        log(f"stage {name}: finished in {seconds:.1f} s")
        return outputs

    def data(self) -> dict:
        from trigger_hgq.data import load_dataset
        from trigger_hgq.data.mirrors import mirror_training_jets

        path = self.inputs.dataset
        cap, n_particles, mirrors = self.cfg.max_train_rows, self.cfg.n_particles, self.cfg.mirrors
        # with mirrors the particles are standardized after mirroring, on the training jets the models see
        ds = load_dataset(self.inputs.card, standardize=not mirrors)
        check_particles(self.cfg, ds)
        arrays, masks = {}, {}
        for split in SPLITS:
            part = ds.split(split)
            n = len(part) if cap is None else min(len(part), cap if split == "train" else max(cap // 2, 2000))
            x = part.x if n_particles is None else part.constituents[:, :n_particles]  # type: ignore[index]
            arrays[f"x_{split}"] = np.ascontiguousarray(x[:n], np.float32)
            arrays[f"y_{split}"] = part.y[:n].astype(np.int64)
            if mirrors:
                masks[split] = part.mask[:n, :n_particles]  # type: ignore[index]
        out = self.out / "data"
        out.mkdir(exist_ok=True)
        particle_scaler = ds.constituent_scaler
        if mirrors:
            particle_scaler = mirror_training_jets(arrays, masks, ds.constituent_fields, mirrors)
        with atomic_path(out / "arrays.npz") as tmp:
            np.savez(tmp, **arrays)
        if ds.scaler is not None:
            ds.scaler.save(out / "scaler.json")
        if n_particles is not None and particle_scaler is not None:  # the particles' front-end step
            particle_scaler.save(out / "particle_scaler.json")
        features = ds.feature_names if n_particles is None else ds.constituent_fields
        info = {"name": ds.name, "source": str(path), "features": features, "classes": ds.class_names,
                "n_particles": n_particles, "input_shape": list(arrays["x_train"].shape[1:]),
                **{f"n_{s}": int(len(arrays[f"y_{s}"])) for s in SPLITS}}
        if mirrors:
            info.update(mirrors=list(mirrors), n_train_jets=info["n_train"] >> len(mirrors))
        write_json_atomic(out / "dataset.json", info)
        inputs = f"{len(features)} features" if n_particles is None else \
            f"{n_particles} particles x {len(features)} features"
        train = f"{info['n_train']} train" if not mirrors else \
            f"{info['n_train']} train ({info['n_train_jets']} jets and their mirror images)"
        log(f"dataset {ds.name}: {train} / {info['n_val']} val / {info['n_select']} select / "
            f"{info['n_test']} test rows, "
            f"{inputs}, classes {ds.class_names}")
        return {"arrays": str(out / "arrays.npz"), "dataset": info}

    def baselines(self, data: dict) -> dict:
        """Every baseline config trained once per seed of ``baselines.seeds``; the seed with the best validation
        accuracy is kept (:func:`~trigger_hgq.baselines.seeds.best_of_seeds`), as HGQ's points are chosen."""
        from trigger_hgq.baselines.seeds import best_of_seeds, seed_model_name

        sec = self.cfg.section("baselines")
        baselines = self.inputs.baselines
        configs = [b.path for b in baselines]
        parents = self.inputs.pruning_parents()  # pruned baselines start from their trained parent: a second wave
        seeds = [int(s) for s in sec.get("seeds") or [0]]
        workers = int(sec.get("workers", 2))
        results: dict[Path, dict] = {}
        for wave in ([b for b in baselines if b.path not in parents], [b for b in baselines if b.path in parents]):
            specs = [tasks.BaselineSpec(
                config=str(b.path), baseline=b, arrays=data["arrays"], seed=seed, epochs=sec.get("epochs"),
                verbose=self.verbose,
                out=str(self.out / "models" / f"{seed_model_name(b.path.stem, seed, len(seeds))}.keras"),
                init_weights=results[parents[b.path]]["path"] if parents.get(b.path) else None,
                label=f"baseline {configs.index(b.path) + 1}/{len(configs)} {b.path.stem}"
                      + (f" seed {seed}" if len(seeds) > 1 else "")) for b in wave for seed in seeds]
            if specs:
                done = self.map(tasks.train_baseline_task, specs, "training baselines", workers=workers)
                for b in wave:
                    results[b.path] = best_of_seeds({s.seed: r for s, r in zip(specs, done, strict=True)
                                                     if s.config == str(b.path)})
        return {"models": [results[c] for c in configs]}

    def autoqkeras(self, data: dict) -> dict:
        sec = self.cfg.section("autoqkeras")
        if not sec.get("enabled", True):
            return {"models": []}
        from trigger_hgq.baselines.autoqkeras import retrain_best, run_autoqkeras
        from trigger_hgq.convert.io import save_model
        from trigger_hgq.models import class_accuracy

        config = self.inputs.autoqkeras_config()
        for key in ("max_trials", "epochs_per_trial"):
            if sec.get(key) is not None:
                config[key] = int(sec[key])
        arrays = tasks.TaskSpec(arrays=data["arrays"]).load_arrays()
        log(f"AutoQKeras: {config['max_trials']} trials x {config['epochs_per_trial']} epochs")
        fit = (arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"])
        trials = None if config.get("mode") == "hyperband" else int(config["max_trials"])
        with Progress(trials, "AutoQKeras trials", unit="trial") as bar, quiet_warnings():
            result = run_autoqkeras(config, *fit, self.out / "autoqkeras", verbose=keras_verbose(),
                                    callbacks=[keras_progress(bar, ("val_accuracy",), per="fit")])
        info = {"trials": len(result.trials), "best_trial": result.best.get("trial_id"),
                "search_val_accuracy": result.best.get("val_accuracy"),
                "search_test_accuracy": class_accuracy(result.model, arrays["x_test"], arrays["y_test"]),
                "retrained_epochs": None}
        model = result.model
        if config.get("retrain", True):  # as long as the uniform baselines: their epochs override too
            with quiet_warnings():
                model, run = retrain_best(result, config, *fit, epochs=self.cfg.section("baselines").get("epochs"),
                                          verbose=keras_verbose())
            info["retrained_epochs"], info["retrained_best_epoch"] = run.epochs_run, run.best_epoch
            log(f"AutoQKeras: best trial retrained for {info['retrained_epochs']} epochs")
        with quiet_warnings():
            path = save_model(model, self.out / "models" / "autoqkeras_best.keras")
        return {"models": [{"name": "autoqkeras_best", "method": "autoqkeras", "path": str(path),
                            "autoqkeras": info}]}

    def hgq(self, data: dict, baselines: dict) -> dict:
        sec = self.cfg.section("hgq")
        start = sec.get("start_from")
        by_name = {m["name"]: m for m in baselines["models"]}
        if start not in by_name:
            raise TriggerHGQError(f"config key 'hgq.start_from': {start!r} is not a trained baseline "
                                  f"(have: {sorted(by_name)})")
        schedule = self.cfg.hgq_schedule().to_dict()
        specs = []
        workers = int(sec.get("workers", 1))
        for n, seed in enumerate(sec.get("seeds") or [0]):
            specs.append(tasks.HgqSpec(start=by_name[start]["path"], config=self.inputs.baseline(start).config,
                                       warm_start=bool(sec.get("warm_start", False)), arrays=data["arrays"],
                                       lr_scale=sec.get("lr_scale"), schedule={**schedule, "seed": int(seed)},
                                       verbose=self.verbose, front_dir=str(self.out / "hgq" / f"seed{seed}"),
                                       label=f"HGQ seed {seed}", bar_position=n % workers if workers > 1 else None))
        runs = self.map(tasks.train_hgq_task, specs, f"HGQ training from {start}", workers=workers)
        points = [p for r in runs for p in r["front"]]
        front = [p for p in points if not any(dominates(q, p, "val_accuracy") for q in points)]
        chosen = thin_front(front, int(sec.get("max_exports", 6)))
        matches = export_matches(front, baselines["models"], self.tolerance,
                                 rule=rule_of([*front, *baselines["models"]]))
        chosen = sorted({p["path"]: p for p in [*chosen, *matches]}.values(), key=lambda p: p["ebops"])
        log(f"HGQ: front of {len(front)} points over {len(runs)} run(s); exporting {len(chosen)}")
        models = [{"name": f"hgq_s{p['seed']}_e{p['epoch']:03d}", "method": "hgq", "path": p["path"],
                   "ebops_trained": p["ebops"], "val_accuracy": p["val_accuracy"],
                   **{k: p[k] for k in ("select_accuracy", "n_select") if k in p}, "pareto_front": True}
                  for p in chosen]
        return {"front": front, "models": models}

    def export(self, data: dict, candidates: list[dict]) -> dict:
        sec = self.cfg.section("export")
        b = self.cfg.budget
        specs = [tasks.ExportSpec(
            name=m["name"], method=m["method"], path=m["path"], arrays=data["arrays"],
            out=str(self.out / "firmware" / m["name"]), classes=tuple(data["dataset"]["classes"]), part=b.part,
            clock_ns=b.clock_ns, margin_bits=int(sec.get("calibration_margin_bits", 1)), verbose=self.verbose,
            export={k: sec.get(k) for k in ("backend", "io_type", "strategy", "n_check") if sec.get(k)},
            pareto_front=bool(m.get("pareto_front", False)), autoqkeras=m.get("autoqkeras"),
            trained={k: m[k] for k in ("training", "sparsity") if k in m} or None) for m in candidates]
        return self.split_failures(self.map(tasks.export_task, specs, "firmware export + C-sim check",
                                            progress=True, workers=int(sec.get("workers", 2))))

    def start_rtl_warmup(self) -> subprocess.Popen | None:
        """The RTL route's solver compiles on first use: a process that compiles it in the background while the
        models train (the ``rtl`` stage waits for it)."""
        return subprocess.Popen([sys.executable, "-m", "trigger_hgq.export.rtl.warmup"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def rtl(self, data: dict, exported: dict, candidates: list[dict]) -> dict:
        """The open-source RTL route (yosys, Verilator) for the exported candidates named by ``export.rtl``."""
        sec, b = self.cfg.section("export"), self.cfg.budget
        settings = rtl_settings(sec.get("rtl"))
        if self._rtl_warmup is not None:  # its tasks then load the compiled solver instead of each compiling it
            try:
                self._rtl_warmup.wait(timeout=RTL_WARMUP_WAIT_S)
            except subprocess.TimeoutExpired:
                self._rtl_warmup.kill()
        names = rtl_candidates(settings, exported["models"], self.tolerance)
        paths = {m["name"]: m["path"] for m in candidates}
        specs = [tasks.RtlSpec(
            name=m["name"], method=m["method"], path=paths[m["name"]], ebops=m.get("ebops"), arrays=data["arrays"],
            out=m["firmware_dir"], part=b.part, clock_ns=b.clock_ns, hls_da=settings["hls_da"],
            margin_bits=int(sec.get("calibration_margin_bits", 1)), verbose=self.verbose,
            export={k: sec.get(k) for k in ("backend", "n_check") if sec.get(k)})
            for m in exported["models"] if m["name"] in names]
        return self.split_failures(self.map(tasks.rtl_task, specs, "open-source RTL route (yosys + Verilator)",
                                            progress=True, workers=int(sec.get("workers", 2))) if specs else [])

    @staticmethod
    def split_failures(results: list[dict]) -> dict:
        """A candidate stage's outputs: ``models`` (the results of the candidates that succeeded) and ``failed``
        (one record per failed candidate: ``name``, ``method``, ``stage``, ``error``, ``first_mismatch_row``,
        ``layer``)."""
        failed = [{"name": r["name"], "method": r["method"], **r["failed"]} for r in results if "failed" in r]
        for f in failed:
            log(f"candidate {f['name']} FAILED in stage {f['stage']} (excluded from selection): "
                f"{f['error'].splitlines()[0][:300]}")
        return {"models": [r for r in results if "failed" not in r], "failed": failed}

    def report(self, data: dict, exported: dict) -> dict:
        from trigger_hgq.report import write_report

        models = [dict(m) for m in exported["models"]]
        failed = [{k: v for k, v in f.items() if k != "traceback"} for f in exported.get("failed", [])]
        if not models:
            first = failed[0]
            raise TriggerHGQError(f"every candidate failed; the first, {first['name']!r}, in stage {first['stage']}: "
                                  f"{first['error']}")
        for m in models:
            m.pop("export_seconds", None)
        selection = select(models, self.cfg.budget)
        keep_roc = {selection["selected"] or selection["closest"]}
        for method in {m["method"] for m in models}:
            keep_roc.add(max((m for m in models if m["method"] == method), key=lambda m: m["accuracy"])["name"])
        hgq_models = [m for m in models if m["method"] == "hgq"]
        hgq_sel = selection["selected"] if any(m["name"] == selection["selected"] for m in hgq_models) else None
        best_hgq = max(hgq_models, key=lambda m: m["accuracy"])["name"] if hgq_models else None
        for m in models:
            if m["name"] not in keep_roc:
                m["roc"] = None
            if m["method"] == "hgq" and m["name"] != (hgq_sel or best_hgq):
                m["bits_histogram"] = None
        comparison = compare(models, data["dataset"]["n_test"], self.tolerance)
        for m in models:  # per-row correctness: the match's paired errors are in the comparison now
            m.pop("select_correct", None)
        report = {
            "schema_version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "dataset": data["dataset"], "budget": self.cfg.budget.to_report(), "models": models,
            **selection, "comparison": comparison, "failed": failed,
            "timings_s": self.state.timings(),
            "profile": self.cfg.profile,
        }
        written = write_report(report, self.out)
        return {"files": {k: str(v) for k, v in written.items()}, "selected": selection["selected"],
                "closest": selection["closest"], "nothing_fits": selection["nothing_fits"],
                "failed": [f["name"] for f in failed]}

    # ------------------------------------------------------------------------------------------- all
    @staticmethod
    def exit_code(outputs: dict, strict: bool = False) -> int:
        """The exit code of a finished run (the report stage's ``outputs``), logged with its reason:
        :data:`EXIT_CANDIDATE_FAILED` (4) when a candidate failed, else :data:`EXIT_NOTHING_FITS` (3) when
        nothing fits and ``strict``, else 0."""
        code = 0
        if outputs.get("failed"):
            log(f"{len(outputs['failed'])} candidate(s) FAILED and are excluded from selection: "
                f"{', '.join(outputs['failed'])} (report.json 'failed'); exit code {EXIT_CANDIDATE_FAILED}")
            code = EXIT_CANDIDATE_FAILED
        if outputs["nothing_fits"]:
            log(f"nothing fits the budget; closest model: {outputs['closest']}")
            return code or (EXIT_NOTHING_FITS if strict else 0)
        log(f"selected: {outputs['selected']}")
        return code

    def run(self, until: str | None = None) -> dict:
        """Run (or resume) every stage and return the report stage's outputs; with ``until`` (``hgq``: no
        firmware), stop after that stage and return the outputs so far by stage name (``data``, ``baselines``,
        ``autoqkeras``, ``hgq``)."""
        if until not in (None, "hgq"):
            raise TriggerHGQError(f"Run.run(until={until!r}): only 'hgq' (stop before the firmware) is supported")
        cfg = self.cfg
        settings = rtl_settings(cfg.section("export").get("rtl"))
        if until is None and (settings["hgq"] or settings["baselines"]):
            self._rtl_warmup = self.start_rtl_warmup()
        try:
            data = self.stage("data", [dataset_stamp(self.inputs.dataset, self.inputs.card), cfg.max_train_rows,
                                       cfg.n_particles, list(cfg.mirrors)], self.data)
            aq_stage = functools.partial(
                self.stage, "autoqkeras", [data, cfg.section("autoqkeras"), self.inputs.autoqkeras_files,
                                           cfg.section("baselines").get("epochs")],
                lambda: self.autoqkeras(data), after=("data",))
            # AutoQKeras trains in this process: beside baselines that train in worker processes (map with
            # workers > 1) it takes the core they leave idle and shares no Keras state with them
            beside = self.scheduler is None and int(cfg.section("baselines").get("workers", 2)) > 1
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                aq_future = pool.submit(aq_stage) if beside else None
                base = self.stage("baselines", [data, cfg.section("baselines"), cfg.section("float"),
                                                [b.files for b in self.inputs.baselines]],
                                  lambda: self.baselines(data), after=("data",))
                aq = aq_future.result() if aq_future is not None else aq_stage()
            hgq = self.stage("hgq", [data, base, cfg.section("hgq"), self.tolerance], lambda: self.hgq(data, base),
                             after=("data", "baselines"))
            if until == "hgq":
                return {"data": data, "baselines": base, "autoqkeras": aq, "hgq": hgq}
            candidates = [*base["models"], *aq["models"], *hgq["models"]]
            export_sec = {k: v for k, v in cfg.section("export").items() if k != "rtl"}
            exp = self.stage("export", [data, candidates, export_sec, cfg.budget.part, cfg.budget.clock_ns],
                             lambda: self.export(data, candidates), after=("data", "baselines", "autoqkeras", "hgq"))
            rtl = self.stage("rtl", [exp, cfg.section("export").get("rtl"), cfg.budget.part, cfg.budget.clock_ns,
                                    self.tolerance],
                             lambda: self.rtl(data, exp, candidates), after=("export",))
            rtl_failed = rtl.get("failed", [])
            exp = {**exp, "failed": [*exp.get("failed", []), *rtl_failed],
                   "models": [m for m in merge_rtl(exp["models"], rtl["models"])
                              if m["name"] not in {f["name"] for f in rtl_failed}]}
            # the report always reflects the latest budget: rerun it whenever anything changed
            return self.stage("report", [exp, cfg.budget.to_report(), self.state.timings(), self.tolerance],
                              lambda: self.report(data, exp), after=("export",))
        finally:
            if self._executor is not None:
                self._executor.close()
            if self._rtl_warmup is not None and self._rtl_warmup.poll() is None:
                self._rtl_warmup.kill()


def run_pipeline(cfg: PipelineConfig, out_dir: str | Path, scheduler: str | None = None, force: bool = False,
                 strict: bool = False, verbose: int = 0, inputs: LoadedInputs | None = None, card=None) -> int:
    """Run (or resume) the pipeline; returns the process exit code (:meth:`Run.exit_code`). A config whose
    ``n_particles`` is a list runs once per particle count (:func:`trigger_hgq.pipeline.sweep.run_sweep`).
    ``inputs``: the run's input files as :meth:`RunInputs.load` parsed them, else they are read here (with
    ``card``, the dataset's card when the caller parsed it)."""
    if cfg.particle_counts is not None:
        from trigger_hgq.pipeline.sweep import run_sweep

        return run_sweep(cfg, out_dir, scheduler=scheduler, force=force, strict=strict, verbose=verbose, card=card)
    if inputs is None:
        inputs = RunInputs(cfg).load(card)
    t0 = time.perf_counter()
    run = Run(cfg, out_dir, scheduler=scheduler, force=force, verbose=verbose, inputs=inputs)
    out = run.run()
    log(f"pipeline finished in {time.perf_counter() - t0:.1f} s; report: {out['files']['report.html']}")
    return run.exit_code(out, strict)
