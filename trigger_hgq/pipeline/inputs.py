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
        AutoQKeras configs parse, and ``hgq.start_from`` names a baseline."""
        from trigger_hgq.baselines.qkeras_models import load_baseline_config

        self.check_dataset()
        names = []
        for c in self.baseline_configs():
            if not c.is_file():
                raise TriggerHGQError(f"baseline config {str(c)!r} does not exist (config key 'baselines.configs')")
            names.append(load_baseline_config(c).get("name", c.stem))
        aq = self.cfg.section("autoqkeras")
        if aq.get("enabled", True):
            from trigger_hgq.baselines.autoqkeras import load_autoqkeras_config

            if not aq.get("config"):
                raise TriggerHGQError("config key 'autoqkeras.config': missing (or set autoqkeras.enabled: false)")
            load_autoqkeras_config(self.cfg.resolve(aq["config"]))
        start = self.cfg.section("hgq").get("start_from")
        if start not in names:
            raise TriggerHGQError(f"config key 'hgq.start_from': {start!r} is not one of the baselines {names}")

    def check_dataset(self) -> None:
        """A dataset card (YAML) parses and matches each of its files: the reader's own checks (tree, every branch
        a feature, the label, the cut or the split key reads) on the first :data:`PROBE_ENTRIES` entries; the
        first problem is one error naming the file, the tree, the branch and the card. (A public-format data file
        brings its own card, read in the data stage.)"""
        from trigger_hgq.data import load_card
        from trigger_hgq.data.dataset import iter_chunks

        path = self.dataset_path()
        if path.suffix not in (".yaml", ".yml"):
            return
        card = load_card(path)
        probe = replace(card, step_size=PROBE_ENTRIES, cache=None)
        for path in card.resolve_files():
            next(iter_chunks(probe, [path]), None)
