"""One unit of generation work: a Pythia 8 run of one process -> FastJet anti-kT jets -> labelled jets.

pp collisions at 13 TeV; anti-kT R=0.8 jets on visible final-state particles (neutrinos excluded); jets with
800 < pT < 1200 GeV and |eta| < 2.5 whose axis lies within dR < 0.6 of a hard object keep that object's class:

* ``qcd`` (QCD 2->2, pT-hat 750-1300 GeV): the outgoing hard partons, gluon -> g, u/d/s -> q (c/b skipped);
* ``wprime`` (a 2 TeV W' -> W Z, both bosons to quarks, Higgs-like decay angles = longitudinal W/Z): w and z;
* ``ttbar`` (top pairs, pT-hat 750-1300 GeV, W -> quarks): t.

The hard object's direction is taken from its last copy in the event record (after recoils, before it decays
or branches). Parton shower, multiparton interactions and hadronization are Pythia's defaults (Monash tune).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np

from trigger_hgq.data.generation.features import FEATURE_NAMES, compute_jet_features
from trigger_hgq.errors import TriggerHGQError

COMMON_SETTINGS: tuple[str, ...] = (
    "Beams:eCM = 13000.",
    "Print:quiet = on",
    "Random:setSeed = on",
)
_HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")


@dataclass(frozen=True)
class ProcessSpec:
    """One Pythia process and which of its hard objects label the jets (|pdg id| -> class index)."""

    name: str
    settings: tuple[str, ...]
    truth: dict[int, int]
    truth_status: int  # |status| of the labelling objects in the event record: 22 resonances, 23 outgoing partons


PROCESSES: tuple[ProcessSpec, ...] = (
    ProcessSpec(
        "qcd",
        ("HardQCD:all = on", "PhaseSpace:pTHatMin = 750.", "PhaseSpace:pTHatMax = 1300."),
        {21: 0, 1: 1, 2: 1, 3: 1},
        23,
    ),
    ProcessSpec(
        "wprime",
        (
            "NewGaugeBoson:ffbar2Wprime = on",
            "34:m0 = 2000.",
            "Wprime:coup2WZ = 1.",
            "Wprime:anglesWZ = 1.",  # decay angles as in H -> W Z: longitudinal bosons
            "34:onMode = off",
            "34:onIfAll = 23 24",
            *_HADRONIC_W,
            "23:onMode = off",
            "23:onIfAny = 1 2 3 4 5",
        ),
        {24: 2, 23: 3},
        22,
    ),
    ProcessSpec(
        "ttbar",
        (
            "Top:gg2ttbar = on",
            "Top:qqbar2ttbar = on",
            "PhaseSpace:pTHatMin = 750.",
            "PhaseSpace:pTHatMax = 1300.",
            *_HADRONIC_W,
        ),
        {6: 4},
        22,
    ),
)


@dataclass(frozen=True)
class JetSelection:
    """Jet definition, acceptance and truth matching (GeV, radians)."""

    radius: float = 0.8
    pt_min: float = 800.0
    pt_max: float = 1200.0
    eta_max: float = 2.5
    match_dr: float = 0.6


@dataclass(frozen=True)
class ChunkTask:
    process: int
    chunk: int
    n_events: int
    seed: int
    selection: JetSelection
    max_constituents: int


def chunk_seed(seed: int, process: int, chunk: int) -> int:
    """Pythia seed (1..900000000) of one chunk, a hash of (seed, process, chunk)."""
    state = np.random.SeedSequence([seed, process, chunk]).generate_state(1, dtype=np.uint64)[0]
    return int(state % np.uint64(900_000_000)) + 1


def import_generators():
    try:
        import fastjet
        import pythia8mc
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise TriggerHGQError(
            f"data generate: needs the `gen` extra (pip install 'trigger-hgq[gen]'): {err}"
        ) from err
    return pythia8mc, fastjet


class _QuietStdout:
    """Send C++ stdout (Pythia messages, the FastJet banner) to /dev/null while generating."""

    def __enter__(self):
        sys.stdout.flush()
        self._saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 1)
        os.close(self._saved)
        return False


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def run_chunk(task: ChunkTask) -> dict:
    """Generate one chunk of events; return its accepted, labelled jets as numpy arrays."""
    with _QuietStdout():
        return _run_chunk_quiet(task)


def _run_chunk_quiet(task: ChunkTask) -> dict:
    pythia8mc, fastjet = import_generators()
    import awkward as ak

    spec = PROCESSES[task.process]
    sel = task.selection
    pythia = pythia8mc.Pythia("", False)
    for line in (*COMMON_SETTINGS, *spec.settings, f"Random:seed = {task.seed}"):
        if not pythia.readString(line):
            raise TriggerHGQError(f"data generate: Pythia rejected the setting `{line}`")
    if not pythia.init():
        raise TriggerHGQError(f"data generate: Pythia failed to initialize process `{spec.name}`")
    event = pythia.event
    status_wanted = -spec.truth_status
    parts: list[tuple] = []
    counts: list[int] = []
    truths: list[list[tuple[int, float, float]]] = []
    n_failed = 0
    for _ in range(task.n_events):
        if not pythia.next():
            n_failed += 1
            continue
        n_before = len(parts)
        truth: list[tuple[int, float, float]] = []
        for p in event:
            status = p.status()
            if status > 0:
                parts.append((p.idAbs(), p.px(), p.py(), p.pz(), p.e()))
            elif status == status_wanted:
                cls = spec.truth.get(p.idAbs())
                if cls is not None:
                    last = event[p.iBotCopyId()]
                    truth.append((cls, last.eta(), last.phi()))
        counts.append(len(parts) - n_before)
        truths.append(truth)
    table = np.asarray(parts, dtype=np.float64).reshape(-1, 5)
    visible = ~np.isin(table[:, 0], (12, 14, 16))  # neutrinos are the only invisible SM final states
    table = table[visible]
    event_index = np.repeat(np.arange(len(counts)), counts)[visible]
    counts_visible = np.bincount(event_index, minlength=len(counts))
    particles = ak.unflatten(
        ak.zip({"px": table[:, 1], "py": table[:, 2], "pz": table[:, 3], "E": table[:, 4]}), counts_visible
    )
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, sel.radius)
    clustering = fastjet.ClusterSequence(particles, jet_def)
    jets = clustering.inclusive_jets(min_pt=sel.pt_min)
    constituents = clustering.constituents(min_pt=sel.pt_min)
    return _select_jets(jets, constituents, truths, sel, task.max_constituents, n_failed)


def _select_jets(jets, constituents, truths, sel: JetSelection, max_constituents: int, n_failed: int) -> dict:
    """Accepted jets matched to a hard object: label, kinematics, features (and leading constituents)."""
    import awkward as ak

    jpx, jpy, jpz, je = (ak.to_numpy(ak.flatten(jets[f])) for f in ("px", "py", "pz", "E"))
    jet_event = np.repeat(np.arange(len(jets)), ak.to_numpy(ak.num(jets)))
    pt = np.hypot(jpx, jpy)
    p = np.sqrt(pt**2 + jpz**2)
    eta = np.arcsinh(np.divide(jpz, pt, out=np.zeros_like(pt), where=pt > 0))
    phi = np.arctan2(jpy, jpx)
    mass = np.sqrt(np.maximum(je**2 - p**2, 0.0))
    accepted = (pt > sel.pt_min) & (pt < sel.pt_max) & (np.abs(eta) < sel.eta_max)
    chosen: list[int] = []
    labels: list[int] = []
    for ev, truth in enumerate(truths):
        candidates = np.flatnonzero((jet_event == ev) & accepted)
        if candidates.size == 0 or not truth:
            continue
        used: dict[int, float] = {}
        for cls, t_eta, t_phi in truth:
            dr = _delta_r(eta[candidates], phi[candidates], t_eta, t_phi)
            best = int(np.argmin(dr))
            jet = int(candidates[best])
            if dr[best] < sel.match_dr and (jet not in used or dr[best] < used[jet]):
                if jet in used:
                    labels[chosen.index(jet)] = cls
                else:
                    chosen.append(jet)
                    labels.append(cls)
                used[jet] = float(dr[best])
    idx = np.asarray(chosen, dtype=np.int64)
    flat_cons = ak.flatten(constituents, axis=1)[idx]
    cpx, cpy, cpz, ce = (flat_cons[f] for f in ("px", "py", "pz", "E"))
    cpt = np.hypot(cpx, cpy)
    ceta = np.arcsinh(cpz / cpt)
    cphi = np.arctan2(cpy, cpx)
    out = {
        "label": np.asarray(labels, dtype=np.int32),
        "j_pt": pt[idx],
        "j_eta": eta[idx],
        "j_phi": phi[idx],
        "j_mass": mass[idx],
        "n_events": len(truths) + n_failed,
        "n_failed": n_failed,
    }
    if idx.size:
        out.update(compute_jet_features(cpt, ceta, cphi, energy=ce))
    else:
        out.update({name: np.zeros(0) for name in FEATURE_NAMES})
    if max_constituents > 0:
        order = ak.argsort(cpt, axis=1, ascending=False)[:, :max_constituents]
        out["const"] = {
            "pt": ak.values_astype(cpt[order], np.float32),
            "eta": ak.values_astype(ceta[order], np.float32),
            "phi": ak.values_astype(cphi[order], np.float32),
            "E": ak.values_astype(ce[order], np.float32),
        }
    return out
