"""Per-particle features derived from the raw constituent fields and the jet axis (``constituents.features``).

The definitions follow the 16 particle features of the hls4ml 150-particle jet dataset (px, py, pz, E, e_rel, pt,
pt_rel, eta, eta_rel, eta_rot, phi, phi_rel, phi_rot, delta_r, cos_theta, cos_theta_rel; E, pt, eta and phi are
the raw fields, passed through by name) and add logarithms of pT and E. The rotated coordinates need every
particle of the jet that the card keeps (``max_particles``): the principal axis is that of those particles.
:data:`REGISTRY` is the one list of them (name -> :class:`ParticleFeature`); dataset cards are checked against
it (:func:`features_problem`) and the readers compute them with :func:`derive`.

A feature reads the raw fields of the padded particles (``pt``, ``eta``, ``phi``, ``E``: the names of
``constituents.branches``) and the jet quantities of ``constituents.jet`` (``pt``, ``eta``, ``phi``, ``mass``; the
jet energy is ``sqrt((pt cosh eta)^2 + mass^2)``). Values are computed in float64 and returned as float32; padded
slots are exactly 0 in every feature, so padded particles add exactly zero through bias-free per-particle layers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Arrays = Mapping[str, np.ndarray]
JET_KEYS: tuple[str, ...] = ("pt", "eta", "phi", "mass")


@dataclass(frozen=True)
class ParticleFeature:
    """One derived feature: ``compute(particles, jet)`` on ``[n, P]`` particle fields and ``[n, 1]`` jet values."""

    name: str
    unit: str
    doc: str
    fields: tuple[str, ...]  # raw constituent fields it reads
    jet: tuple[str, ...]  # jet quantities it reads (keys of constituents.jet)
    compute: Callable[[Arrays, Arrays], np.ndarray]


REGISTRY: dict[str, ParticleFeature] = {}


def _feature(name: str, unit: str, fields: tuple[str, ...], jet: tuple[str, ...] = ()):
    def register(fn: Callable[[Arrays, Arrays], np.ndarray]) -> Callable[[Arrays, Arrays], np.ndarray]:
        REGISTRY[name] = ParticleFeature(name, unit, (fn.__doc__ or "").strip(), fields, jet, fn)
        return fn
    return register


def wrap_phi(dphi: np.ndarray) -> np.ndarray:
    """An angle difference wrapped into [-pi, pi)."""
    out = np.mod(dphi + np.pi, 2 * np.pi) - np.pi
    return np.where(out >= np.pi, out - 2 * np.pi, out)  # np.mod may round up to exactly 2 pi


def jet_energy(jet: Arrays) -> np.ndarray:
    """The jet energy in GeV from its pT, eta and mass: ``sqrt((pt cosh eta)^2 + mass^2)``."""
    return np.sqrt((jet["pt"] * np.cosh(jet["eta"])) ** 2 + jet["mass"] ** 2)


@_feature("pt_rel", "1", ("pt",), ("pt",))
def _pt_rel(p: Arrays, j: Arrays) -> np.ndarray:
    """The particle's pT over the jet's pT."""
    return p["pt"] / j["pt"]


@_feature("eta_rel", "1", ("eta",), ("eta",))
def _eta_rel(p: Arrays, j: Arrays) -> np.ndarray:
    """The particle's pseudorapidity minus the jet's."""
    return p["eta"] - j["eta"]


@_feature("phi_rel", "rad", ("phi",), ("phi",))
def _phi_rel(p: Arrays, j: Arrays) -> np.ndarray:
    """The particle's azimuth minus the jet's, wrapped into [-pi, pi)."""
    return wrap_phi(p["phi"] - j["phi"])


@_feature("delta_r", "1", ("eta", "phi"), ("eta", "phi"))
def _delta_r(p: Arrays, j: Arrays) -> np.ndarray:
    """The distance to the jet axis, ``sqrt(eta_rel^2 + phi_rel^2)``."""
    return np.hypot(p["eta"] - j["eta"], wrap_phi(p["phi"] - j["phi"]))


@_feature("e_rel", "1", ("E",), ("pt", "eta", "mass"))
def _e_rel(p: Arrays, j: Arrays) -> np.ndarray:
    """The particle's energy over the jet's energy."""
    return p["E"] / jet_energy(j)


@_feature("log_pt", "log(GeV)", ("pt",))
def _log_pt(p: Arrays, j: Arrays) -> np.ndarray:
    """The natural logarithm of the particle's pT in GeV."""
    return np.log(p["pt"])


@_feature("log_e", "log(GeV)", ("E",))
def _log_e(p: Arrays, j: Arrays) -> np.ndarray:
    """The natural logarithm of the particle's energy in GeV."""
    return np.log(p["E"])


@_feature("px", "GeV", ("pt", "phi"))
def _px(p: Arrays, j: Arrays) -> np.ndarray:
    """The particle's momentum along x, ``pt cos(phi)``."""
    return p["pt"] * np.cos(p["phi"])


@_feature("py", "GeV", ("pt", "phi"))
def _py(p: Arrays, j: Arrays) -> np.ndarray:
    """The particle's momentum along y, ``pt sin(phi)``."""
    return p["pt"] * np.sin(p["phi"])


@_feature("pz", "GeV", ("pt", "eta"))
def _pz(p: Arrays, j: Arrays) -> np.ndarray:
    """The particle's momentum along the beam, ``pt sinh(eta)``."""
    return p["pt"] * np.sinh(p["eta"])


@_feature("cos_theta", "1", ("eta",))
def _cos_theta(p: Arrays, j: Arrays) -> np.ndarray:
    """The cosine of the particle's polar angle, ``tanh(eta)``."""
    return np.tanh(p["eta"])


@_feature("cos_theta_rel", "1", ("eta", "phi"), ("eta", "phi"))
def _cos_theta_rel(p: Arrays, j: Arrays) -> np.ndarray:
    """The cosine of the 3D angle between the particle and the jet axis:
    ``(cos(phi_rel) + sinh(eta) sinh(eta_jet)) / (cosh(eta) cosh(eta_jet))``."""
    return (np.cos(p["phi"] - j["phi"]) + np.sinh(p["eta"]) * np.sinh(j["eta"])) / \
        (np.cosh(p["eta"]) * np.cosh(j["eta"]))


def principal_angle(p: Arrays, j: Arrays) -> np.ndarray:
    """Per jet ``[n, 1]``, the angle (rad) of the principal axis of its particles' pT-weighted spread in
    (eta_rel, phi_rel): ``atan2(2 Sxy, Sxx - Syy) / 2`` with ``Sxx = sum pt eta_rel^2`` etc. over the particles
    (padded slots have pt 0 and add nothing)."""
    x, y, w = p["eta"] - j["eta"], wrap_phi(p["phi"] - j["phi"]), np.where(np.isfinite(p["pt"]), p["pt"], 0.0)
    sxx, syy, sxy = (np.sum(w * a * b, axis=1, keepdims=True) for a, b in ((x, x), (y, y), (x, y)))
    return 0.5 * np.arctan2(2.0 * sxy, sxx - syy)


def rotated(p: Arrays, j: Arrays) -> tuple[np.ndarray, np.ndarray]:
    """(eta_rel, phi_rel) rotated by minus :func:`principal_angle`: the jet's principal axis along eta_rot."""
    a = principal_angle(p, j)
    x, y = p["eta"] - j["eta"], wrap_phi(p["phi"] - j["phi"])
    return x * np.cos(a) + y * np.sin(a), -x * np.sin(a) + y * np.cos(a)


@_feature("eta_rot", "1", ("pt", "eta", "phi"), ("eta", "phi"))
def _eta_rot(p: Arrays, j: Arrays) -> np.ndarray:
    """The particle's coordinate along the jet's principal axis (:func:`rotated`)."""
    return rotated(p, j)[0]


@_feature("phi_rot", "1", ("pt", "eta", "phi"), ("eta", "phi"))
def _phi_rot(p: Arrays, j: Arrays) -> np.ndarray:
    """The particle's coordinate across the jet's principal axis (:func:`rotated`)."""
    return rotated(p, j)[1]


#: The features whose sign an exact symmetry of pp collisions flips, by mirror plane: ``phi`` (phi -> -phi for
#: every particle and the jet axis) and ``eta`` (eta -> -eta). Every other feature of :data:`REGISTRY` and the
#: raw pt and E are unchanged. The principal axis flips with the plane, so eta_rot (eta) or phi_rot (phi) flips.
REFLECTED: dict[str, frozenset[str]] = {
    "phi": frozenset({"py", "phi", "phi_rel", "phi_rot"}),
    "eta": frozenset({"pz", "eta", "eta_rel", "eta_rot", "cos_theta"}),
}


def reflected(x: np.ndarray, names: Sequence[str], plane: str) -> np.ndarray:
    """The particles ``x [n, P, len(names)]`` (as :func:`derive` gives them) of the jets mirrored in ``plane``
    (``phi`` or ``eta``, see :data:`REFLECTED`): the flipped features change sign, padded slots stay 0. A
    copy of the training jets, as real as the originals: generator-level physics is symmetric under both mirrors.
    """
    if plane not in REFLECTED:
        raise ValueError(f"unknown mirror plane {plane!r} (known: {', '.join(REFLECTED)})")
    sign = np.array([-1.0 if n in REFLECTED[plane] else 1.0 for n in names], x.dtype)
    return x * sign


def features_problem(names: Sequence[str], fields: Collection[str], jet: Collection[str] | None) -> str | None:
    """What is wrong with the feature list ``names`` of a card with raw ``fields`` and jet quantities ``jet`` (None:
    no ``constituents.jet``), or None. A name is a derived feature of :data:`REGISTRY` or a raw field passed through.
    """
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return f"'{name}' is listed twice"
        seen.add(name)
        if name in fields and name in REGISTRY:
            return f"'{name}' is both a field of constituents.branches and a derived feature (rename the field)"
        if name in fields:
            continue
        feature = REGISTRY.get(name)
        if feature is None:
            return (f"unknown feature '{name}' (derived features: {', '.join(REGISTRY)}; or a field of "
                    f"constituents.branches: {', '.join(fields)})")
        for f in feature.fields:
            if f not in fields:
                return (f"'{name}' needs the constituent field '{f}' (constituents.branches has "
                        f"{', '.join(fields)})")
        if feature.jet and jet is None:
            return f"'{name}' needs constituents.jet (the jet axis)"
        for k in feature.jet:
            if k not in jet:  # type: ignore[operator]
                return f"'{name}' needs constituents.jet.{k}"
    return None


def derive(names: Sequence[str], fields: Sequence[str], values: np.ndarray, mask: np.ndarray,
           jet: Arrays) -> np.ndarray:
    """The features ``names`` of padded particles: ``values [n, P, len(fields)]`` (float64, the raw fields in the
    order of ``fields``), ``mask [n, P]`` of real particles, ``jet`` one value per row for each jet quantity.

    Returns float32 ``[n, P, len(names)]``, exactly 0 in padded slots.
    """
    values = np.asarray(values, np.float64)
    particles = {f: values[:, :, i] for i, f in enumerate(fields)}
    axis = {k: np.asarray(v, np.float64)[:, None] for k, v in jet.items()}
    out = np.zeros((*mask.shape, len(names)), np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # padded slots: replaced by 0 below
        for i, name in enumerate(names):
            column = particles[name] if name in particles else REGISTRY[name].compute(particles, axis)
            out[:, :, i] = np.where(mask, column, 0.0)
    return out
