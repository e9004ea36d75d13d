"""The jet-tagging pipeline's stages and their orchestration (resumable, serial or on Dask).

data -> baselines (float + QKeras) -> autoqkeras -> hgq (Pareto front) -> export (firmware + C-sim check)
-> rtl (open-source RTL route for the candidates in ``export.rtl``)
-> report (selection under the budget, comparison, report.json/.md/.html).
Every stage records its outputs in ``DIR/state.json``; a rerun skips stages whose inputs did not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trigger_hgq.atomic import atomic_path, write_json_atomic
from trigger_hgq.callbacks import dominates
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.pipeline import tasks
from trigger_hgq.pipeline.config import PipelineConfig
from trigger_hgq.pipeline.executor import PoolExecutor, make_executor
from trigger_hgq.pipeline.keys import code_version, dataset_stamp, yaml_files
from trigger_hgq.pipeline.rtl_stage import merge_rtl, rtl_candidates, rtl_settings
from trigger_hgq.pipeline.select import compare, select
from trigger_hgq.pipeline.state import RunState, fingerprint
from trigger_hgq.progress import Progress, keras_progress
from trigger_hgq.training import thin_front
from trigger_hgq.verbosity import keras_verbose, quiet_warnings, set_verbosity

STAGES = ("data", "baselines", "autoqkeras", "hgq", "export", "rtl", "report")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Run:
    """One pipeline run in ``out_dir``."""

    def __init__(self, cfg: PipelineConfig, out_dir: str | Path, scheduler: str | None = None,
                 force: bool = False, verbose: int = 0):
        self.cfg = cfg
        preflight(cfg)  # bad input fails here, before anything is written
        self.out = Path(out_dir).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = RunState(self.out, force=force)
        self.scheduler = scheduler
        self.verbose = verbose
        set_verbosity(verbose)  # before any worker starts: they inherit it
        self._executor = None

    @property
    def executor(self):
        if self._executor is None:
            self._executor = make_executor(self.scheduler)
            log(f"executor: {self._executor.name}")
        return self._executor

    def map(self, fn: Callable[[dict], dict], specs: list[dict], what: str, progress: bool = False,
            workers: int = 1) -> list[dict]:
        """Run the tasks; ``progress``: one bar over them (i/N with ETA; for tasks without a bar of their own);
        ``workers > 1``: without ``--scheduler``, in that many local processes."""
        log(f"{what}: {len(specs)} task(s)")
        pool = None
        if self.scheduler is None and workers > 1 and len(specs) > 1:
            pool = PoolExecutor(min(workers, len(specs)))
        executor = pool or self.executor
        try:
            if not progress:
                return executor.map(fn, specs)
            with Progress(len(specs), what, unit="task") as bar:
                return executor.map(fn, specs, on_done=lambda r: bar.update(1, **_progress_fields(r)))
        finally:
            if pool is not None:
                pool.close()

    # ------------------------------------------------------------------------------------------- stages
    def stage(self, name: str, inputs, fn: Callable[[], dict], after: tuple[str, ...] = ()) -> dict:
        """Run ``fn`` unless ``name`` finished with the same key: its ``inputs``, the code version and the keys
        of the stages it reads (``after``; a stage that reran with other inputs reruns those after it)."""
        key = fingerprint(name, inputs, code_version(), [self.state.key(dep) for dep in after])
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

        path = dataset_path(self.cfg)
        ds = load_dataset(path)
        cap = self.cfg.max_train_rows
        arrays = {}
        for split in ("train", "val", "test"):
            part = ds.split(split)
            n = len(part) if cap is None else min(len(part), cap if split == "train" else max(cap // 2, 2000))
            arrays[f"x_{split}"] = part.x[:n].astype(np.float32)
            arrays[f"y_{split}"] = part.y[:n].astype(np.int64)
        out = self.out / "data"
        out.mkdir(exist_ok=True)
        with atomic_path(out / "arrays.npz") as tmp:
            np.savez(tmp, **arrays)
        if ds.scaler is not None:
            ds.scaler.save(out / "scaler.json")
        info = {"name": ds.name, "source": str(path), "features": ds.feature_names, "classes": ds.class_names,
                **{f"n_{s}": int(len(arrays[f"y_{s}"])) for s in ("train", "val", "test")}}
        write_json_atomic(out / "dataset.json", info)
        log(f"dataset {ds.name}: {info['n_train']} train / {info['n_val']} val / {info['n_test']} test rows, "
            f"{len(ds.feature_names)} features, classes {ds.class_names}")
        return {"arrays": str(out / "arrays.npz"), "dataset": info}

    def baselines(self, data: dict) -> dict:
        sec = self.cfg.section("baselines")
        configs = baseline_configs(self.cfg)
        specs = [{"config": str(c), "arrays": data["arrays"], "out": str(self.out / "models" / f"{c.stem}.h5"),
                  "epochs": sec.get("epochs"), "verbose": self.verbose,
                  "label": f"baseline {i}/{len(configs)} {c.stem}"} for i, c in enumerate(configs, 1)]
        return {"models": self.map(tasks.train_baseline_task, specs, "training baselines")}

    def autoqkeras(self, data: dict) -> dict:
        sec = self.cfg.section("autoqkeras")
        if not sec.get("enabled", True):
            return {"models": []}
        from trigger_hgq.baselines.autoqkeras import load_autoqkeras_config, retrain_best, run_autoqkeras
        from trigger_hgq.convert.io import save_model

        config = load_autoqkeras_config(self.cfg.resolve(sec["config"]))
        for key in ("max_trials", "epochs_per_trial"):
            if sec.get(key) is not None:
                config[key] = int(sec[key])
        arrays = tasks.load_arrays(data["arrays"])
        log(f"AutoQKeras: {config['max_trials']} trials x {config['epochs_per_trial']} epochs")
        fit = (arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"])
        trials = None if config.get("mode") == "hyperband" else int(config["max_trials"])
        with Progress(trials, "AutoQKeras trials", unit="trial") as bar, quiet_warnings():
            result = run_autoqkeras(config, *fit, self.out / "autoqkeras", verbose=keras_verbose(),
                                    callbacks=[keras_progress(bar, ("val_accuracy",), per="fit")])
        info = {"trials": len(result.trials), "best_trial": result.best.get("trial_id"),
                "search_val_accuracy": result.best.get("val_accuracy"),
                "search_test_accuracy": tasks.class_accuracy(result.model, arrays["x_test"], arrays["y_test"]),
                "retrained_epochs": None}
        model = result.model
        if config.get("retrain", True):  # as long as the uniform baselines: their epochs override too
            with quiet_warnings():
                model, run = retrain_best(result, config, *fit, epochs=self.cfg.section("baselines").get("epochs"),
                                          verbose=keras_verbose())
            info["retrained_epochs"], info["retrained_best_epoch"] = run.epochs_run, run.best_epoch
            log(f"AutoQKeras: best trial retrained for {info['retrained_epochs']} epochs")
        with quiet_warnings():
            path = save_model(model, self.out / "models" / "autoqkeras_best.h5")
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
            specs.append({"start": by_name[start]["path"], "config": by_name[start]["config"],
                          "warm_start": bool(sec.get("warm_start", False)), "arrays": data["arrays"],
                          "lr_scale": sec.get("lr_scale"), "schedule": {**schedule, "seed": int(seed)},
                          "verbose": self.verbose, "front_dir": str(self.out / "hgq" / f"seed{seed}"),
                          "label": f"HGQ seed {seed}", "bar_position": n % workers if workers > 1 else None})
        runs = self.map(tasks.train_hgq_task, specs, f"HGQ training from {start}", workers=workers)
        points = [p for r in runs for p in r["front"]]
        front = [p for p in points if not any(dominates(q, p, "val_accuracy") for q in points)]
        chosen = thin_front(front, int(sec.get("max_exports", 6)))
        chosen = sorted({p["path"]: p for p in [*chosen, *matched_points(front, baselines["models"])]}.values(),
                        key=lambda p: p["ebops"])
        log(f"HGQ: front of {len(front)} points over {len(runs)} run(s); exporting {len(chosen)}")
        models = [{"name": f"hgq_s{p['seed']}_e{p['epoch']:03d}", "method": "hgq", "path": p["path"],
                   "ebops_trained": p["ebops"], "val_accuracy": p["val_accuracy"], "pareto_front": True}
                  for p in chosen]
        return {"front": front, "models": models}

    def export(self, data: dict, candidates: list[dict]) -> dict:
        sec = self.cfg.section("export")
        b = self.cfg.budget
        specs = [{**m, "arrays": data["arrays"], "out": str(self.out / "firmware" / m["name"]),
                  "classes": data["dataset"]["classes"], "part": b.part, "clock_ns": b.clock_ns,
                  "margin_bits": int(sec.get("calibration_margin_bits", 1)), "verbose": self.verbose,
                  "export": {k: sec.get(k) for k in ("backend", "io_type", "strategy", "n_check") if sec.get(k)}}
                 for m in candidates]
        return {"models": self.map(tasks.export_task, specs, "firmware export + C-sim check", progress=True,
                                   workers=int(sec.get("workers", 2)))}

    def rtl(self, data: dict, exported: dict, candidates: list[dict]) -> dict:
        """The open-source RTL route (yosys, Verilator) for the exported candidates named by ``export.rtl``."""
        sec, b = self.cfg.section("export"), self.cfg.budget
        settings = rtl_settings(sec.get("rtl"))
        names = rtl_candidates(settings, exported["models"])
        paths = {m["name"]: m["path"] for m in candidates}
        specs = [{"name": m["name"], "method": m["method"], "path": paths[m["name"]], "ebops": m.get("ebops"),
                  "arrays": data["arrays"], "out": m["firmware_dir"], "part": b.part, "clock_ns": b.clock_ns,
                  "hls_da": settings["hls_da"], "margin_bits": int(sec.get("calibration_margin_bits", 1)),
                  "verbose": self.verbose,
                  "export": {k: sec.get(k) for k in ("backend", "n_check") if sec.get(k)}}
                 for m in exported["models"] if m["name"] in names]
        return {"models": self.map(tasks.rtl_task, specs, "open-source RTL route (yosys + Verilator)",
                                   progress=True, workers=int(sec.get("workers", 2))) if specs else []}

    def report(self, data: dict, exported: dict) -> dict:
        from trigger_hgq.report import write_report

        models = [dict(m) for m in exported["models"]]
        for m in models:
            m.pop("export_seconds", None)
        selection = select(models, self.cfg.budget)
        keep_roc = {selection["selected"] or selection["closest"]}
        for method in {m["method"] for m in models}:
            keep_roc.add(max((m for m in models if m["method"] == method), key=lambda m: m["accuracy"])["name"])
        hgq_sel = selection["selected"] if any(m["name"] == selection["selected"] and m["method"] == "hgq"
                                                for m in models) else None
        for m in models:
            if m["name"] not in keep_roc:
                m["roc"] = None
            if m["method"] == "hgq" and m["name"] != (hgq_sel or _best_hgq(models)):
                m["bits_histogram"] = None
        report = {
            "schema_version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "dataset": data["dataset"], "budget": self.cfg.budget.to_report(), "models": models,
            **selection, "comparison": compare(models), "timings_s": self.state.timings(),
            "profile": self.cfg.profile,
        }
        written = write_report(report, self.out)
        return {"files": {k: str(v) for k, v in written.items()}, "selected": selection["selected"],
                "closest": selection["closest"], "nothing_fits": selection["nothing_fits"]}

    # ------------------------------------------------------------------------------------------- all
    def run(self) -> dict:
        cfg = self.cfg
        try:
            data = self.stage("data", [dataset_stamp(dataset_path(cfg)), cfg.max_train_rows], self.data)
            base = self.stage("baselines", [data, cfg.section("baselines"), cfg.section("float"),
                                            [yaml_files(c) for c in baseline_configs(cfg)]],
                              lambda: self.baselines(data), after=("data",))
            aq = self.stage("autoqkeras", [data, cfg.section("autoqkeras"), autoqkeras_files(cfg),
                                           cfg.section("baselines").get("epochs")],
                            lambda: self.autoqkeras(data), after=("data",))
            hgq = self.stage("hgq", [data, base, cfg.section("hgq")], lambda: self.hgq(data, base),
                             after=("data", "baselines"))
            candidates = [*base["models"], *aq["models"], *hgq["models"]]
            export_sec = {k: v for k, v in cfg.section("export").items() if k != "rtl"}
            exp = self.stage("export", [data, candidates, export_sec, cfg.budget.part, cfg.budget.clock_ns],
                             lambda: self.export(data, candidates), after=("data", "baselines", "autoqkeras", "hgq"))
            rtl = self.stage("rtl", [exp, cfg.section("export").get("rtl"), cfg.budget.part, cfg.budget.clock_ns],
                             lambda: self.rtl(data, exp, candidates), after=("export",))
            exp = {**exp, "models": merge_rtl(exp["models"], rtl["models"])}
            # the report always reflects the latest budget: rerun it whenever anything changed
            return self.stage("report", [exp, cfg.budget.to_report(), self.state.timings()],
                              lambda: self.report(data, exp), after=("export",))
        finally:
            if self._executor is not None:
                self._executor.close()


def matched_points(front: list[dict], baselines: list[dict], tolerance: float = 0.005) -> list[dict]:
    """For each baseline, the cheapest front points whose validation accuracy reaches the baseline's minus
    ``tolerance`` and the baseline's own: the candidates the report's comparison will match (chosen on the
    validation split; the comparison itself uses the test split)."""
    chosen = []
    for base in baselines:
        if base.get("val_accuracy") is None:
            continue
        for target in (base["val_accuracy"] - tolerance, base["val_accuracy"]):
            reaching = [p for p in front if p["val_accuracy"] >= target]
            if reaching:
                chosen.append(min(reaching, key=lambda p: p["ebops"]))
    return chosen


def dataset_path(cfg: PipelineConfig) -> Path:
    path = cfg.resolve(cfg.dataset)
    if not path.exists():
        raise TriggerHGQError(f"dataset {str(path)!r} does not exist (config key 'dataset' or --data)")
    return path


def autoqkeras_files(cfg: PipelineConfig) -> dict[str, str]:
    """The YAML files the AutoQKeras stage reads: its config and the reference baseline config it names."""
    from trigger_hgq.baselines.autoqkeras import load_autoqkeras_config

    sec = cfg.section("autoqkeras")
    if not sec.get("enabled", True):
        return {}
    path = cfg.resolve(sec["config"])
    return {**yaml_files(path), **yaml_files(load_autoqkeras_config(path)["_reference"]["_file"])}


def baseline_configs(cfg: PipelineConfig) -> list[Path]:
    """The float reference (first) and the QKeras baseline configs."""
    configs = [cfg.resolve(c) for c in cfg.section("baselines").get("configs") or []]
    float_sec = cfg.section("float")
    if float_sec.get("enabled", True) and float_sec.get("config"):
        configs.insert(0, cfg.resolve(float_sec["config"]))
    return configs


def preflight(cfg: PipelineConfig) -> None:
    """Check every input file of the run, and validate the configs they hold, before any stage starts."""
    from trigger_hgq.baselines.qkeras_models import load_baseline_config
    from trigger_hgq.data import load_card

    path = dataset_path(cfg)
    if path.suffix in (".yaml", ".yml"):
        load_card(path)
    names = []
    for c in baseline_configs(cfg):
        if not c.is_file():
            raise TriggerHGQError(f"baseline config {str(c)!r} does not exist (config key 'baselines.configs')")
        names.append(load_baseline_config(c).get("name", c.stem))
    aq = cfg.section("autoqkeras")
    if aq.get("enabled", True):
        from trigger_hgq.baselines.autoqkeras import load_autoqkeras_config

        if not aq.get("config"):
            raise TriggerHGQError("config key 'autoqkeras.config': missing (or set autoqkeras.enabled: false)")
        load_autoqkeras_config(cfg.resolve(aq["config"]))
    start = cfg.section("hgq").get("start_from")
    if start not in names:
        raise TriggerHGQError(f"config key 'hgq.start_from': {start!r} is not one of the baselines {names}")


def _progress_fields(result: dict) -> dict:
    """What a stage bar shows of a finished task: its model's name and accuracy, when it has them."""
    return {k: result[k] for k in ("name", "accuracy") if isinstance(result, dict) and k in result}


def _best_hgq(models: list[dict]) -> str | None:
    hgq = [m for m in models if m["method"] == "hgq"]
    return max(hgq, key=lambda m: m["accuracy"])["name"] if hgq else None


def run_pipeline(cfg: PipelineConfig, out_dir: str | Path, scheduler: str | None = None, force: bool = False,
                 strict: bool = False, verbose: int = 0) -> int:
    """Run (or resume) the pipeline; returns the process exit code (3: nothing fits and ``strict``)."""
    t0 = time.perf_counter()
    out = Run(cfg, out_dir, scheduler=scheduler, force=force, verbose=verbose).run()
    log(f"pipeline finished in {time.perf_counter() - t0:.1f} s; report: {out['files']['report.html']}")
    if out["nothing_fits"]:
        log(f"nothing fits the budget; closest model: {out['closest']}")
        return 3 if strict else 0
    log(f"selected: {out['selected']}")
    return 0
