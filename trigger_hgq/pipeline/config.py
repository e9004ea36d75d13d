"""The pipeline's YAML config: sections, profiles (quick | default | full) and validation with named keys.

Paths in the config are relative to the config file. A profile is a partial config merged over the top-level
settings (``profiles.quick``...); the command line (--data, --latency-budget-ns, ...) overrides both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trigger_hgq.config import check_keys, deep_merge, load_yaml, where
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.pipeline.rtl_stage import rtl_settings
from trigger_hgq.pipeline.select import Budget
from trigger_hgq.training import HGQSchedule

PROFILES = ("quick", "default", "full")
SECTIONS: dict[str, set[str]] = {
    "budget": {"latency_ns", "clock_ns", "part", "lut_fraction", "dsp_fraction", "implementation"},
    "float": {"enabled", "config", "epochs"},
    "baselines": {"configs", "epochs"},
    "autoqkeras": {"enabled", "config", "max_trials", "epochs_per_trial"},
    "hgq": {"start_from", "warm_start", "seeds", "lr_scale", "schedule", "max_exports", "workers"},
    "export": {"backend", "io_type", "strategy", "n_check", "rtl", "calibration_margin_bits",
               "workers"},
}
TOP_KEYS = {"name", "description", "dataset", "max_train_rows", "profile", "profiles", *SECTIONS}


@dataclass
class PipelineConfig:
    """The resolved settings of one run (plain data; ``raw`` keeps the merged YAML for the state fingerprint)."""

    raw: dict
    profile: str
    dataset: str
    max_train_rows: int | None
    budget: Budget
    path: Path

    def section(self, name: str) -> dict:
        return self.raw.get(name) or {}

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(os.path.expandvars(str(relative)))
        return p if p.is_absolute() else (self.path.parent / p).resolve()

    def hgq_schedule(self) -> HGQSchedule:
        return HGQSchedule.from_dict(dict(self.section("hgq").get("schedule") or {}), f"config {str(self.path)!r}",
                                     "hgq.schedule")


def load_pipeline_config(path: str | os.PathLike, profile: str | None = None, overrides: dict | None = None
                         ) -> PipelineConfig:
    """Read the config, apply ``profile`` (default: the config's ``profile`` key) and command-line overrides."""
    raw = load_yaml(path)
    check_keys(raw, TOP_KEYS, raw, "")
    profiles = raw.pop("profiles", None) or {}
    check_keys(profiles, set(PROFILES), raw, "profiles")
    profile = profile or raw.get("profile", "default")
    if profile not in PROFILES:
        raise TriggerHGQError(f"{where(raw, 'profile')}: {profile!r}, expected one of {PROFILES}")
    merged = deep_merge(raw, profiles.get(profile) or {})
    merged = deep_merge(merged, {k: v for k, v in (overrides or {}).items() if v is not None})
    for name, keys in SECTIONS.items():
        check_keys(merged.get(name) or {}, keys, merged, name)
    try:
        budget = Budget(**(merged.get("budget") or {}))
    except TypeError as err:
        raise TriggerHGQError(f"{where(merged, 'budget')}: {err}") from err
    if not merged.get("dataset"):
        raise TriggerHGQError(f"{where(merged, 'dataset')}: missing (a dataset card or data file)")
    rows = merged.get("max_train_rows")
    if rows is not None and (not isinstance(rows, int) or rows < 100):
        raise TriggerHGQError(f"{where(merged, 'max_train_rows')}: expected an integer >= 100 or null, got {rows!r}")
    for name in ("hgq", "export"):
        workers = (merged.get(name) or {}).get("workers")
        if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
            raise TriggerHGQError(f"{where(merged, f'{name}.workers')}: expected an integer >= 1 (local "
                                  f"processes), got {workers!r}")
    cfg = PipelineConfig(raw=merged, profile=profile, dataset=str(merged["dataset"]), max_train_rows=rows,
                         budget=budget, path=Path(merged["_file"]))
    cfg.hgq_schedule()  # validate now, before any stage runs
    rtl_settings(cfg.section("export").get("rtl"))
    return cfg
