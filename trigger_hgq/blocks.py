"""Particle blocks: the parts of an interaction-network and an MLP-Mixer tagger, written once for every model kind.

A block is a small graph of plain layers (dense, mean, add, reshape, concatenate, permute). It is written here
against a :class:`LayerKit`, and each model kind supplies its kit: float Keras and QKeras layers
(:mod:`trigger_hgq.baselines.qkeras_models`) or trigger-hgq layers (:func:`trigger_hgq.models.hgq_from_architecture`).
So the float, QKeras and HGQ forms of a model have the same layers, and the converter maps one onto the other.

Inputs are ``(batch, particles, features)``.

- :func:`interaction` is the linear-cost interaction network's node update (JEDI-linear, arXiv 2508.15468): with an
  affine edge function ``f_R(x_i, x_j) = A x_i + B x_j + c``, the sum of the messages a particle receives is
  ``N (A x_i + c) + B sum_j x_j``, so the node update needs each particle and the mean of all of them, never a pair:
  ``h_i = act(W x_i + b + V mean_j x_j)``. It is permutation-equivariant, and a mean over the particles after it
  gives a permutation-invariant tagger.
- :func:`mix_particles` is the token-mixing step of an MLP-Mixer (arXiv 2105.01601): a dense layer across the
  particle axis, the same for every feature (the particles are ordered by pT, so this is not a set function). The
  feature-mixing step is an ordinary per-particle dense layer.
"""

from __future__ import annotations

from typing import Protocol


class LayerKit(Protocol):
    """The layers a block is made of, as one model kind builds them; each returns the output tensor."""

    def dense(self, x, units: int, activation: str, use_bias: bool, name: str): ...

    def mean(self, x, name: str): ...

    def add(self, inputs: list, activation: str, name: str, particles: bool): ...

    def reshape(self, x, shape: tuple[int, ...], name: str): ...

    def concatenate(self, inputs: list, axis: int, name: str): ...

    def permute(self, x, dims: tuple[int, ...], name: str): ...


def broadcast_particles(kit: LayerKit, v, n: int, name: str):
    """``(batch, features) -> (batch, n, features)``: the vector copied to each of ``n`` particles, by a reshape and
    concatenations of a block with itself (doubling; wires only in firmware)."""
    block = kit.reshape(v, (1, int(v.shape[-1])), f"{name}_row")
    pieces, size = [], 1
    while True:
        if n & size:
            pieces.append(block)
        if 2 * size > n:
            break
        size *= 2
        block = kit.concatenate([block, block], -2, f"{name}_x{size}")
    rows = pieces[0]
    for idx, piece in enumerate(pieces[1:]):
        rows = kit.concatenate([rows, piece], -2, f"{name}_join{idx}")
    return rows


def interaction(kit: LayerKit, x, units: int, activation: str, name: str):
    """``h_i = act(W x_i + b + V mean_j x_j)`` for every particle ``i`` (see the module docstring)."""
    n = int(x.shape[1])
    own = kit.dense(x, units, "linear", True, f"{name}_self")
    context = kit.dense(kit.mean(x, f"{name}_mean"), units, "linear", False, f"{name}_context")
    return kit.add([own, broadcast_particles(kit, context, n, f"{name}_bcast")], activation, name, True)


def mix_particles(kit: LayerKit, x, units: int, activation: str, name: str):
    """A dense layer across the particle axis, shared by the features: ``(N, F) -> (units, F)``."""
    across = kit.permute(x, (2, 1), f"{name}_transpose")
    mixed = kit.dense(across, units, activation, True, name)
    return kit.permute(mixed, (2, 1), f"{name}_back")


PARTICLE_ENTRIES = ("global_average_pooling", "interaction", "mix_particles")
"""The baseline-config layer types that act on ``(particles, features)`` through a kit."""


def particle_entry(kit: LayerKit, x, entry: dict, name: str):
    """The layers of one config entry of :data:`PARTICLE_ENTRIES` (its ``type``, ``units``, ``activation``)."""
    kind, activation = entry["type"], entry.get("activation", "linear")
    if kind == "global_average_pooling":
        return kit.mean(x, name)
    if kind == "interaction":
        return interaction(kit, x, int(entry["units"]), activation, name)
    return mix_particles(kit, x, int(entry.get("units") or x.shape[1]), activation, name)
