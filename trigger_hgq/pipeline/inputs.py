"""The input files of a pipeline run, resolved from its config, checked and parsed once before anything is written.

:meth:`RunInputs.load` reads every file the run depends on (the dataset card, the baseline configs, the AutoQKeras
config) once, checks them against each other, and returns them as one frozen :class:`LoadedInputs` that the stages
receive: no stage reads or parses a config file again.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trigger_hgq.config import base_chain
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.pipeline.config import PipelineConfig
from trigger_hgq.pipeline.particles import check_particles, n_particles_key
from trigger_hgq.stage_keys import yaml_files

#: Entries read from each data file when the dataset card is checked against it.
PROBE_ENTRIES = 64


@dataclass(frozen=True)
class Baseline:
    """One baseline config of a run, parsed once: ``config`` as :func:`~trigger_hgq.baselines.qkeras_models.
    load_baseline_config` returns it (``base:`` files merged, validated), its training ``policy``, its ``pruning``
    settings (None: not pruned) and ``files``, the bytes (digests) of the YAML files it was read from."""

    path: Path
    config: dict[str, Any] = field(repr=False)
    policy: Any  # trigger_hgq.baselines.policy.TrainingPolicy
    pruning: Any = None  # trigger_hgq.baselines.pruning.PruningSettings | None
    files: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.path.stem))

    def config_copy(self) -> dict[str, Any]:
        """A deep copy of ``config``, for code that changes it (the shared one stays as read)."""
        return copy.deepcopy(self.config)

    @classmethod
    def read(cls, path: Path) -> Baseline:
        """Read, validate and parse the baseline config at ``path`` (a missing file names the config key)."""
        from trigger_hgq.baselines.policy import TrainingPolicy
        from trigger_hgq.baselines.qkeras_models import load_baseline_config

        if not path.is_file():
            raise TriggerHGQError(f"baseline config {str(path)!r} does not exist (config key 'baselines.configs')")
        config = load_baseline_config(path)
        pruning = None
        if config.get("pruning") is not None:
            from trigger_hgq.baselines.pruning import PruningSettings

            pruning = PruningSettings.from_config(config)
        return cls(path, config, TrainingPolicy.from_config(config), pruning, yaml_files(path))


@dataclass(frozen=True)
class LoadedInputs:
    """Everything a run reads from files besides the data arrays, parsed once (:meth:`RunInputs.load`).

    Attributes:
        dataset: the dataset card or data file.
        card: its :class:`~trigger_hgq.data.Card` (a public-format data file's bare card).
        input_shape: the input shape the models get (None: known only once the data stage read the file).
        baselines: the float reference (first, when enabled) and the QKeras baselines.
        autoqkeras: the AutoQKeras config (``_reference``: its reference baseline config), None when disabled.
        autoqkeras_files: the bytes (digests) of the YAML files the AutoQKeras config was read from.
    """

    dataset: Path
    card: Any = field(repr=False)  # trigger_hgq.data.Card
    input_shape: tuple[int, ...] | None
    baselines: tuple[Baseline, ...]
    autoqkeras: dict[str, Any] | None = field(default=None, repr=False)
    autoqkeras_files: dict[str, str] = field(default_factory=dict, repr=False)

    def baseline(self, name: str) -> Baseline:
        """The baseline called ``name`` (its config's ``name``)."""
        for b in self.baselines:
            if b.name == name:
                return b
        raise TriggerHGQError(f"no baseline {name!r} in this run (have: {[b.name for b in self.baselines]})")

    def pruning_parents(self) -> dict[Path, Path | None]:
        """See :func:`pruning_parents`."""
        return pruning_parents(self.baselines)

    def autoqkeras_config(self) -> dict[str, Any]:
        """A deep copy of the AutoQKeras config (the stage sets its trial counts on it)."""
        if self.autoqkeras is None:
            raise TriggerHGQError("config key 'autoqkeras.enabled': false (no AutoQKeras config in this run)")
        return copy.deepcopy(self.autoqkeras)


def pruning_parents(baselines: tuple[Baseline, ...] | list[Baseline]) -> dict[Path, Path | None]:
    """Per baseline with a ``pruning`` section: the config its ``base:`` names when that one is an unpruned
    baseline of this run (its trained weights are the start), else None (it trains dense first)."""
    paths = [b.path for b in baselines]
    pruned = [b.path for b in baselines if b.pruning is not None]
    parents = {}
    for c in pruned:
        chain = base_chain(c)  # the config itself, then its bases in order
        parent = chain[1] if len(chain) > 1 else None
        parents[c] = parent if parent in paths and parent not in pruned else None
    return parents


@dataclass(frozen=True)
class RunInputs:
    """The dataset, baseline and AutoQKeras files ``cfg`` names."""

    cfg: PipelineConfig

    def dataset_path(self) -> Path:
        path = self.cfg.resolve(self.cfg.dataset)
        if not path.exists():
            raise TriggerHGQError(f"dataset {str(path)!r} does not exist (config key 'dataset' or --data)")
        return path

    def baseline_configs(self) -> list[Path]:
        """The float reference (first) and the QKeras baseline configs."""
        cfg = self.cfg
        configs = [cfg.resolve(c) for c in cfg.section("baselines").get("configs") or []]
        float_sec = cfg.section("float")
        if float_sec.get("enabled", True) and float_sec.get("config"):
            configs.insert(0, cfg.resolve(float_sec["config"]))
        return configs

    def load_baselines(self) -> tuple[Baseline, ...]:
        """Every baseline config of the run, read and parsed (:meth:`Baseline.read`)."""
        return tuple(Baseline.read(c) for c in self.baseline_configs())

    def pruning_parents(self) -> dict[Path, Path | None]:
        """See :func:`pruning_parents` (reads the baseline configs)."""
        return pruning_parents(self.load_baselines())

    def load(self, card=None) -> LoadedInputs:
        """Read, check and parse every input file of the run before any stage starts: the dataset card parses
        and each of its files has what the card reads (tree, branches), the baseline and AutoQKeras configs parse
        and take the data's input shape, and ``hgq.start_from`` names a baseline. ``card``: the dataset's card
        when the caller already parsed it (the command line, checking ``--data``)."""
        from trigger_hgq.baselines.qkeras_models import check_input_fits

        path = self.dataset_path()
        card, shape = self.check_dataset(path, card)
        baselines = self.load_baselines()
        for b in baselines:
            if shape is not None:
                check_input_fits(b.config, shape, self.n_particles_key())
        aq_config, aq_files = None, {}
        aq = self.cfg.section("autoqkeras")
        if aq.get("enabled", True):
            from trigger_hgq.baselines.autoqkeras import load_autoqkeras_config

            if not aq.get("config"):
                raise TriggerHGQError("config key 'autoqkeras.config': missing (or set autoqkeras.enabled: false)")
            aq_path = self.cfg.resolve(aq["config"])
            aq_config = load_autoqkeras_config(aq_path)
            if shape is not None:
                check_input_fits(aq_config["_reference"], shape, self.n_particles_key())
            aq_files = {**yaml_files(aq_path), **yaml_files(aq_config["_reference"]["_file"])}
        names = [b.name for b in baselines]
        start = self.cfg.section("hgq").get("start_from")
        if start not in names:
            raise TriggerHGQError(f"config key 'hgq.start_from': {start!r} is not one of the baselines {names}")
        return LoadedInputs(path, card, shape, baselines, aq_config, aq_files)

    def check(self) -> None:
        """Check every input file of the run (:meth:`load`, its result dropped)."""
        self.load()

    def n_particles_key(self) -> str:
        """How errors name the pipeline config's ``n_particles``."""
        return n_particles_key(self.cfg)

    def check_particles(self, card_or_dataset) -> None:
        """``n_particles`` needs a card with ``constituents`` holding at least that many particles."""
        check_particles(self.cfg, card_or_dataset)

    def check_dataset(self, path: Path | None = None, card=None) -> tuple[Any, tuple[int, ...] | None]:
        """The dataset's card, parsed once (``card`` when given), and the input shape the models get.

        A dataset card (YAML) must match each of its files: the reader's own checks (tree, every branch a
        feature, the label, the cut or the split key reads) on the first :data:`PROBE_ENTRIES` entries; the first
        problem is one error naming the file, the tree, the branch and the card; ``n_particles`` fits its
        constituents. A public-format data file brings its own card; its input shape is None (known once the data
        stage read the file)."""
        from trigger_hgq.data.dataset import iter_chunks, resolve_card

        path = self.dataset_path() if path is None else path
        if card is None:
            card = resolve_card(path)
        if path.suffix not in (".yaml", ".yml"):
            return card, None
        self.check_particles(card)
        probe = replace(card, step_size=PROBE_ENTRIES, cache=None)
        for file in card.resolve_files():
            next(iter_chunks(probe, [file]), None)
        if self.cfg.n_particles is None:
            return card, (len(card.features),)
        return card, (self.cfg.n_particles, len(card.constituents.output_names))  # type: ignore[union-attr]

