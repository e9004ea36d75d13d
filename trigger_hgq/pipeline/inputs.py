"""The input files of a pipeline run, resolved from its config and checked before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from trigger_hgq.config import base_chain
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.pipeline.config import PipelineConfig
from trigger_hgq.stage_keys import yaml_files

#: Entries read from each data file when the dataset card is checked against it.
PROBE_ENTRIES = 64


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

    def pruning_parents(self) -> dict[Path, Path | None]:
        """Per baseline config with a ``pruning`` section: the config its ``base:`` names when that one is an
        unpruned baseline of this run (its trained weights are the start), else None (it trains dense first)."""
        from trigger_hgq.baselines.qkeras_models import load_baseline_config

        configs = self.baseline_configs()
        pruned = [c for c in configs if load_baseline_config(c).get("pruning") is not None]
        parents = {}
        for c in pruned:
            chain = base_chain(c)  # the config itself, then its bases in order
            parent = chain[1] if len(chain) > 1 else None
            parents[c] = parent if parent in configs and parent not in pruned else None
        return parents

    def autoqkeras_files(self) -> dict[str, str]:
        """The YAML files the AutoQKeras stage reads: its config and the reference baseline config it names."""
        from trigger_hgq.baselines.autoqkeras import load_autoqkeras_config

        sec = self.cfg.section("autoqkeras")
        if not sec.get("enabled", True):
            return {}
        path = self.cfg.resolve(sec["config"])
        return {**yaml_files(path), **yaml_files(load_autoqkeras_config(path)["_reference"]["_file"])}

    def check(self) -> None:
        """Check every input file of the run, and validate the configs they hold, before any stage starts: the
        dataset card parses and each of its files has what the card reads (tree, branches), the baseline and
        AutoQKeras configs parse and take the data's input shape, and ``hgq.start_from`` names a baseline."""
        from trigger_hgq.baselines.qkeras_models import check_input_fits, load_baseline_config

        shape = self.check_dataset()
        names = []
        for c in self.baseline_configs():
            if not c.is_file():
                raise TriggerHGQError(f"baseline config {str(c)!r} does not exist (config key 'baselines.configs')")
            config = load_baseline_config(c)
            if shape is not None:
                check_input_fits(config, shape, self.n_particles_key())
            names.append(config.get("name", c.stem))
        aq = self.cfg.section("autoqkeras")
        if aq.get("enabled", True):
            from trigger_hgq.baselines.autoqkeras import load_autoqkeras_config

            if not aq.get("config"):
                raise TriggerHGQError("config key 'autoqkeras.config': missing (or set autoqkeras.enabled: false)")
            aq_config = load_autoqkeras_config(self.cfg.resolve(aq["config"]))
            if shape is not None:
                check_input_fits(aq_config["_reference"], shape, self.n_particles_key())
        start = self.cfg.section("hgq").get("start_from")
        if start not in names:
            raise TriggerHGQError(f"config key 'hgq.start_from': {start!r} is not one of the baselines {names}")

    def n_particles_key(self) -> str:
        """How errors name the pipeline config's ``n_particles``."""
        return f"config {self.cfg.path}: key 'n_particles'"

    def check_particles(self, card_or_dataset) -> None:
        """``n_particles`` needs a card with ``constituents`` holding at least that many particles."""
        n = self.cfg.n_particles
        if n is None:
            return
        name = getattr(card_or_dataset, "where", None) or f"dataset '{card_or_dataset.name}'"
        if hasattr(card_or_dataset, "train"):  # a loaded dataset (also from a public-format file): its arrays
            particles = card_or_dataset.train.constituents
            have = None if particles is None else particles.shape[1]
        else:
            spec = card_or_dataset.constituents
            have = None if spec is None else spec.max_particles
        if have is None:
            raise TriggerHGQError(f"{self.n_particles_key()}: {n} particles, but {name} has no 'constituents' "
                                  "(particle lists); use a card with constituents, or drop n_particles for its "
                                  "features")
        if n > have:
            raise TriggerHGQError(f"{self.n_particles_key()}: {n} particles, more than the {have} of {name} "
                                  "(its constituents.max_particles)")

    def check_dataset(self) -> tuple[int, ...] | None:
        """A dataset card (YAML) parses and matches each of its files: the reader's own checks (tree, every branch
        a feature, the label, the cut or the split key reads) on the first :data:`PROBE_ENTRIES` entries; the
        first problem is one error naming the file, the tree, the branch and the card; ``n_particles`` fits its
        constituents. Returns the input shape the models get (None for a public-format data file, which brings
        its own card, read in the data stage)."""
        from trigger_hgq.data import load_card
        from trigger_hgq.data.dataset import iter_chunks

        path = self.dataset_path()
        if path.suffix not in (".yaml", ".yml"):
            return None
        card = load_card(path)
        self.check_particles(card)
        probe = replace(card, step_size=PROBE_ENTRIES, cache=None)
        for path in card.resolve_files():
            next(iter_chunks(probe, [path]), None)
        if self.cfg.n_particles is None:
            return (len(card.features),)
        return (self.cfg.n_particles, len(card.constituents.output_names))  # type: ignore[union-attr]
