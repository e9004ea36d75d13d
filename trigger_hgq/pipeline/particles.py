"""The check that a run's ``n_particles`` fits its dataset (used before the run and by the data stage).

Apart from :mod:`trigger_hgq.pipeline.inputs` so that the data stage, which runs it on the loaded arrays, reaches
no model code (its resume key covers only the sources it runs).
"""

from __future__ import annotations

from trigger_hgq.data.mirrors import mirror_problem
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.pipeline.config import PipelineConfig


def n_particles_key(cfg: PipelineConfig) -> str:
    """How errors name the pipeline config's ``n_particles``."""
    return f"config {cfg.path}: key 'n_particles'"


def check_particles(cfg: PipelineConfig, card_or_dataset) -> None:
    """``n_particles`` needs a card (or a loaded dataset) with ``constituents`` holding at least that many
    particles; ``mirrors`` needs particles whose features all have a known sign under the mirrors."""
    n = cfg.n_particles
    if cfg.mirrors and n is None and cfg.particle_counts is None:
        raise TriggerHGQError(f"config {cfg.path}: key 'mirrors': the mirrors act on particles; set n_particles "
                              "(a constituent-level run) or drop mirrors")
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
        raise TriggerHGQError(f"{n_particles_key(cfg)}: {n} particles, but {name} has no 'constituents' "
                              "(particle lists); use a card with constituents, or drop n_particles for its features")
    if n > have:
        raise TriggerHGQError(f"{n_particles_key(cfg)}: {n} particles, more than the {have} of {name} "
                              "(its constituents.max_particles)")
    if cfg.mirrors:
        names = (card_or_dataset.constituent_fields if hasattr(card_or_dataset, "train")
                 else card_or_dataset.constituents.output_names)
        problem = mirror_problem(names)
        if problem:
            raise TriggerHGQError(f"config {cfg.path}: key 'mirrors': {name}: {problem}")
