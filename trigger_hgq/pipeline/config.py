"""The pipeline's YAML config: its schema (sections, profiles quick | default | full) and loading.

Paths in the config are relative to the config file. A profile is a partial config merged over the top-level
settings (``profiles.quick``...); the command line (--data, --latency-budget-ns, ...) overrides both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from trigger_hgq.config import config_source, deep_merge, load_yaml
from trigger_hgq.data.mirrors import MIRROR_PLANES
from trigger_hgq.fpga import BUDGET_SPEC, Budget, check_budget
from trigger_hgq.rtl_plan import RTL_SPEC
from trigger_hgq.schema import Anything, Bool, Enum, Float, Int, ListOf, MapOf, Nullable, Obj, OneOf, Str, validate
from trigger_hgq.training import SCHEDULE_SPEC, HGQSchedule

PROFILES = ("quick", "default", "full")
_WORKERS = (Nullable(Int(lo=1)), False, "local processes")
SECTIONS: dict[str, Obj] = {
    "budget": BUDGET_SPEC,
    "float": Obj({"enabled": (Bool(), False), "config": (Str(), False, "its baseline config"),
                  "epochs": (Nullable(Int(lo=1)), False)}, strict=True),
    "baselines": Obj({"configs": (ListOf(Str()), False, "baseline configs"),
                      "epochs": (Nullable(Int(lo=1)), False, "null: each config's own"),
                      "seeds": (ListOf(Int(lo=None), nonempty=True), False,
                                "seeds each config trains with; the best on validation is kept"),
                      "workers": _WORKERS}, strict=True),
    "autoqkeras": Obj({"enabled": (Bool(), False), "config": (Nullable(Str()), False, "the AutoQKeras config"),
                       "max_trials": (Int(lo=1), False), "epochs_per_trial": (Int(lo=1), False)}, strict=True),
    "hgq": Obj({"start_from": (Str(), False, "the baseline HGQ starts from"), "warm_start": (Bool(), False),
                "seeds": (ListOf(Int(lo=None)), False), "lr_scale": (Nullable(Float(positive=True)), False),
                "schedule": (Nullable(SCHEDULE_SPEC), False), "max_exports": (Int(lo=0), False),
                "workers": _WORKERS}, strict=True),
    "comparison": Obj({"tolerance": (Float(lo=0.0), False, "validation-accuracy tolerance of the match "
                                                             "(a fraction; 0: equal accuracy)")}, strict=True),
    "export": Obj({"backend": (Str(), False), "io_type": (Str(), False), "strategy": (Str(), False),
                   "n_check": (Int(lo=0), False, "test rows checked bit for bit"), "rtl": (RTL_SPEC, False),
                   "calibration_margin_bits": (Int(lo=0), False), "workers": _WORKERS}, strict=True),
}
CONFIG_SPEC = Obj({
    "name": (Str(), False), "description": (Str(nonempty=False), False),
    "dataset": (Str(), True, "a dataset card or data file"),
    "max_train_rows": (Nullable(Int(lo=100)), False, "cap on the training rows"),
    "n_particles": (Nullable(OneOf((Int(lo=1), ListOf(Int(lo=1), nonempty=True)),
                                   doc="a particle count >= 1 or a list of them (one run each)")), False,
                    "constituent-level models: the leading particles they take (the card's constituents; null: its "
                    "features)"),
    "mirrors": (Nullable(ListOf(Enum(MIRROR_PLANES), scalar_ok=True, unique="plane")), False,
                "constituent-level models: the training jets also mirrored in these planes and their combination "
                "(exact symmetries of pp collisions; 2**k copies; validation, selection and test rows untouched)"),
    "profile": (Enum(PROFILES), False),
    **{name: (Nullable(spec), False) for name, spec in SECTIONS.items()},
}, strict=True)
"""A pipeline config after its profile and the command-line overrides are merged in."""
PROFILES_SPEC = Obj({p: (Nullable(MapOf(Anything(), key_doc="key")), False) for p in PROFILES}, strict=True)


@dataclass
class PipelineConfig:
    """The resolved settings of one run (plain data; ``raw`` keeps the merged YAML for the state fingerprint)."""

    raw: dict
    profile: str
    dataset: str
    max_train_rows: int | None
    budget: Budget
    path: Path
    n_particles: int | None = None
    mirrors: tuple[str, ...] = ()
    """The planes the training jets are also mirrored in (``mirrors``; constituent-level runs)."""

    @property
    def particle_counts(self) -> list[int] | None:
        """The particle counts of a sweep (``n_particles`` given as a list), else None."""
        value = self.raw.get("n_particles")
        return [int(v) for v in value] if isinstance(value, list) else None

    def for_particles(self, n: int) -> PipelineConfig:
        """This config with ``n_particles`` set to ``n`` (one run of a sweep)."""
        return replace(self, raw={**self.raw, "n_particles": int(n)}, n_particles=int(n))

    def section(self, name: str) -> dict:
        return self.raw.get(name) or {}

    @classmethod
    def load(cls, path: str | os.PathLike, profile: str | None = None, overrides: dict | None = None
             ) -> PipelineConfig:
        """Read the config, apply ``profile`` (default: the config's ``profile`` key) and command-line overrides."""
        raw = load_yaml(path)
        source = config_source(raw)
        profiles = raw.pop("profiles", None) or {}
        validate(PROFILES_SPEC, profiles, source, "profiles")
        profile = validate(Enum(PROFILES), profile or raw.get("profile", "default"), source, "profile")
        merged = deep_merge(raw, profiles.get(profile) or {})
        merged = deep_merge(merged, {k: v for k, v in (overrides or {}).items() if v is not None})
        validate(CONFIG_SPEC, merged, source)
        budget = Budget(**check_budget(merged.get("budget") or {}, source))
        return cls(raw=merged, profile=profile, dataset=str(merged["dataset"]),
                   max_train_rows=merged.get("max_train_rows"), budget=budget, path=Path(merged["_file"]),
                   n_particles=None if isinstance(merged.get("n_particles"), list) else merged.get("n_particles"),
                   mirrors=_planes(merged.get("mirrors")))

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(os.path.expandvars(str(relative)))
        return p if p.is_absolute() else (self.path.parent / p).resolve()

    def hgq_schedule(self) -> HGQSchedule:
        return HGQSchedule.from_dict(dict(self.section("hgq").get("schedule") or {}), config_source(self.raw),
                                     "hgq.schedule")


def _planes(value: str | list[str] | None) -> tuple[str, ...]:
    """``mirrors`` as a tuple of planes (one plane may be given alone)."""
    return (value,) if isinstance(value, str) else tuple(value or ())
