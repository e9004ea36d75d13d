"""The 16 high-level jet-substructure features of the hls4ml LHC jet dataset, from constituent arrays.

Definitions (all momenta in GeV; angles from rapidity y and azimuth phi):

* mMDT grooming = SoftDrop(beta=0, z_cut=0.1) on the jet reclustered with Cambridge/Aachen: undo the last
  C/A merging, keep the pair if ``min(pT1, pT2) / (pT1 + pT2) >= z_cut * (dR12 / R0)**beta``, else follow the
  harder branch. ``j_mass_mmdt`` is the mass of what is kept.
* Energy correlation functions with the pt_R measure on the groomed constituents: ``z_i = pT_i / sum pT``,
  ``R_ij = sqrt(dy^2 + dphi^2)``; ``e2^b = sum_{i<j} z_i z_j R_ij^b``,
  ``e3^b = sum_{i<j<k} z_i z_j z_k (R_ij R_ik R_jk)^b``; the generalized ``1e3^b`` and ``2e3^b`` keep only
  ``min(R)^b`` and ``(min(R) * second-smallest R)^b`` of the three pair angles; ``1e2 = e2``.
  c1_bb = e2^b, c2_bb = e3^b / (e2^b)^2, d2_bb = e3^b / (e2^b)^3, d2_a1_bb = e3^1 / (e2^b)^(3/b),
  m2_bb = 1e3^b / e2^b, n2_bb = 2e3^b / (e2^b)^2. A ratio whose denominator is 0 (a groomed jet of a single
  particle) is set to 0.
* On the ungroomed jet: ``j_zlogz = sum_i (E_i/E_J) ln(E_i/E_J)`` with ``E_J = sum E_i``, and
  ``j_multiplicity`` = number of constituents.

The computation is compiled with numba; one call handles any number of jets.
"""

from __future__ import annotations

from collections.abc import Sequence

import awkward as ak
import numpy as np

from trigger_hgq.errors import TriggerHGQError

FEATURE_NAMES: tuple[str, ...] = (
    "j_zlogz",
    "j_c1_b0_mmdt",
    "j_c1_b1_mmdt",
    "j_c1_b2_mmdt",
    "j_c2_b1_mmdt",
    "j_c2_b2_mmdt",
    "j_d2_b1_mmdt",
    "j_d2_b2_mmdt",
    "j_d2_a1_b1_mmdt",
    "j_d2_a1_b2_mmdt",
    "j_m2_b1_mmdt",
    "j_m2_b2_mmdt",
    "j_n2_b1_mmdt",
    "j_n2_b2_mmdt",
    "j_mass_mmdt",
    "j_multiplicity",
)

_TWO_PI = 2.0 * np.pi
# Compiled with numba on first use (see _compile), so importing this module never touches numba's cache.
_JIT_FUNCTIONS = ("_rapidity", "_phi", "_dr2", "_mmdt_leaves", "_ratio", "_one_jet", "_all_jets")
_compiled = False


def _compile() -> None:
    """Replace the kernels below by numba dispatchers, cached on disk when numba finds a writable cache folder.

    numba raises at decoration time when no cache folder is writable (read-only HOME and package folder):
    then the kernels are compiled without an on-disk cache (slower first call, same results).
    """
    global _compiled
    if _compiled:
        return
    import numba

    namespace = globals()
    for name in _JIT_FUNCTIONS:
        func = namespace[name]
        try:
            namespace[name] = numba.njit(cache=True)(func)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            namespace[name] = numba.njit(cache=False)(func)
    _compiled = True


def _rapidity(px: float, py: float, pz: float, e: float) -> float:
    """Rapidity as fastjet computes it: a negative mass^2 (rounding) counts as 0; +-1e5 along the beam."""
    kt2 = px * px + py * py
    if kt2 == 0.0 and e == abs(pz):
        return 1e5 if pz >= 0 else -1e5
    m2 = (e + pz) * (e - pz) - kt2
    e_plus_pz = e + abs(pz)
    rap = 0.5 * np.log((kt2 + max(m2, 0.0)) / (e_plus_pz * e_plus_pz))
    return -rap if pz > 0 else rap


def _phi(px: float, py: float) -> float:
    """Azimuth in [0, 2pi)."""
    p = np.arctan2(py, px)
    return p + _TWO_PI if p < 0.0 else p


def _dr2(y1: float, phi1: float, y2: float, phi2: float) -> float:
    dphi = abs(phi1 - phi2)
    if dphi > np.pi:
        dphi = _TWO_PI - dphi
    dy = y1 - y2
    return dy * dy + dphi * dphi


def _mmdt_leaves(px, py, pz, e, zcut: float, beta: float, r0: float):
    """C/A-cluster all particles, decluster with SoftDrop; return indices of the kept particles."""
    n = px.shape[0]
    if n == 1:
        return np.zeros(1, np.int64)
    m = 2 * n - 1
    jpx = np.empty(m)
    jpy = np.empty(m)
    jpz = np.empty(m)
    je = np.empty(m)
    jy = np.empty(m)
    jphi = np.empty(m)
    left = np.full(m, -1, np.int64)
    right = np.full(m, -1, np.int64)
    nn = np.full(m, -1, np.int64)
    nnd = np.full(m, np.inf)
    for i in range(n):
        jpx[i], jpy[i], jpz[i], je[i] = px[i], py[i], pz[i], e[i]
        jy[i] = _rapidity(px[i], py[i], pz[i], e[i])
        jphi[i] = _phi(px[i], py[i])
    active = np.arange(n)
    na = n
    for a in range(na):
        i = active[a]
        for b in range(a + 1, na):
            j = active[b]
            d = _dr2(jy[i], jphi[i], jy[j], jphi[j])
            if d < nnd[i]:
                nnd[i], nn[i] = d, j
            if d < nnd[j]:
                nnd[j], nn[j] = d, i
    k = n
    while na > 1:
        best = 0
        for a in range(1, na):
            if nnd[active[a]] < nnd[active[best]]:
                best = a
        i = active[best]
        j = nn[i]
        jpx[k] = jpx[i] + jpx[j]
        jpy[k] = jpy[i] + jpy[j]
        jpz[k] = jpz[i] + jpz[j]
        je[k] = je[i] + je[j]
        jy[k] = _rapidity(jpx[k], jpy[k], jpz[k], je[k])
        jphi[k] = _phi(jpx[k], jpy[k])
        left[k], right[k] = i, j
        # replace i by k in the active list, drop j (swap with the last entry)
        active[best] = k
        for a in range(na):
            if active[a] == j:
                active[a] = active[na - 1]
                break
        na -= 1
        for a in range(na):
            c = active[a]
            if c == k:
                continue
            d = _dr2(jy[c], jphi[c], jy[k], jphi[k])
            if d < nnd[k]:
                nnd[k], nn[k] = d, c
            if nn[c] == i or nn[c] == j:
                nnd[c], nn[c] = np.inf, -1
                for b in range(na):
                    o = active[b]
                    if o != c:
                        d2 = _dr2(jy[c], jphi[c], jy[o], jphi[o])
                        if d2 < nnd[c]:
                            nnd[c], nn[c] = d2, o
            elif d < nnd[c]:
                nnd[c], nn[c] = d, k
        k += 1
    node = active[0]
    while left[node] >= 0:
        a, b = left[node], right[node]
        pta = np.hypot(jpx[a], jpy[a])
        ptb = np.hypot(jpx[b], jpy[b])
        z = min(pta, ptb) / (pta + ptb)
        cut = zcut
        if beta != 0.0:
            cut = zcut * (np.sqrt(_dr2(jy[a], jphi[a], jy[b], jphi[b])) / r0) ** beta
        if z >= cut:
            break
        node = a if pta >= ptb else b
    out = np.empty(n, np.int64)
    nout = 0
    stack = np.empty(m, np.int64)
    stack[0] = node
    top = 1
    while top > 0:
        top -= 1
        c = stack[top]
        if left[c] < 0:
            out[nout] = c
            nout += 1
        else:
            stack[top] = left[c]
            stack[top + 1] = right[c]
            top += 2
    return np.sort(out[:nout])


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0.0 else 0.0


def _one_jet(px, py, pz, e, zcut: float, beta: float, r0: float, out) -> None:
    """Fill ``out`` (16 values, FEATURE_NAMES order) for one jet."""
    n = px.shape[0]
    esum = 0.0
    for i in range(n):
        esum += e[i]
    zlogz = 0.0
    for i in range(n):
        zi = e[i] / esum
        if zi > 0.0:
            zlogz += zi * np.log(zi)
    keep = _mmdt_leaves(px, py, pz, e, zcut, beta, r0)
    ng = keep.shape[0]
    pt = np.empty(ng)
    y = np.empty(ng)
    ph = np.empty(ng)
    gpx = gpy = gpz = ge = 0.0
    ptsum = 0.0
    for a in range(ng):
        i = keep[a]
        gpx += px[i]
        gpy += py[i]
        gpz += pz[i]
        ge += e[i]
        pt[a] = np.hypot(px[i], py[i])
        ptsum += pt[a]
        y[a] = _rapidity(px[i], py[i], pz[i], e[i])
        ph[a] = _phi(px[i], py[i])
    m2 = (ge + gpz) * (ge - gpz) - gpx * gpx - gpy * gpy  # as fastjet: less cancellation for light jets
    mass = np.sqrt(m2) if m2 > 0.0 else 0.0
    z = pt / ptsum
    r = np.zeros((ng, ng))
    e2_0 = e2_1 = e2_2 = 0.0
    for i in range(ng):
        for j in range(i + 1, ng):
            r2 = _dr2(y[i], ph[i], y[j], ph[j])
            rij = np.sqrt(r2)
            r[i, j] = rij
            r[j, i] = rij
            zz = z[i] * z[j]
            e2_0 += zz
            e2_1 += zz * rij
            e2_2 += zz * r2
    e3_1 = e3_2 = g13_1 = g13_2 = g23_1 = g23_2 = 0.0
    for i in range(ng):
        for j in range(i + 1, ng):
            zij = z[i] * z[j]
            rij = r[i, j]
            for k in range(j + 1, ng):
                a = rij
                b = r[i, k]
                c = r[j, k]
                zzz = zij * z[k]
                abc = a * b * c
                e3_1 += zzz * abc
                e3_2 += zzz * abc * abc
                # smallest and second-smallest of the three pair angles
                if a > b:
                    a, b = b, a
                if b > c:
                    b, c = c, b
                if a > b:
                    a, b = b, a
                g13_1 += zzz * a
                g13_2 += zzz * a * a
                ab = a * b
                g23_1 += zzz * ab
                g23_2 += zzz * ab * ab
    out[0] = zlogz
    out[1] = e2_0
    out[2] = e2_1
    out[3] = e2_2
    out[4] = _ratio(e3_1, e2_1 * e2_1)
    out[5] = _ratio(e3_2, e2_2 * e2_2)
    out[6] = _ratio(e3_1, e2_1 * e2_1 * e2_1)
    out[7] = _ratio(e3_2, e2_2 * e2_2 * e2_2)
    out[8] = _ratio(e3_1, e2_1 * e2_1 * e2_1)
    out[9] = _ratio(e3_1, e2_2**1.5)
    out[10] = _ratio(g13_1, e2_1)
    out[11] = _ratio(g13_2, e2_2)
    out[12] = _ratio(g23_1, e2_1 * e2_1)
    out[13] = _ratio(g23_2, e2_2 * e2_2)
    out[14] = mass
    out[15] = n


def _all_jets(px, py, pz, e, offsets, zcut: float, beta: float, r0: float):
    njet = offsets.shape[0] - 1
    out = np.empty((njet, 16))
    for j in range(njet):
        lo, hi = offsets[j], offsets[j + 1]
        _one_jet(px[lo:hi], py[lo:hi], pz[lo:hi], e[lo:hi], zcut, beta, r0, out[j])
    return out


def _flatten(values, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(flat float64 values, per-jet counts) from a jagged/awkward array, a list of arrays or a 2D array."""
    if isinstance(values, ak.Array):
        if values.ndim != 2:
            raise TriggerHGQError(f"jet features: `{name}` must be [n_jets][n_particles], got type {values.type}")
        counts = ak.to_numpy(ak.num(values, axis=1)).astype(np.int64)
        flat = ak.to_numpy(ak.flatten(values, axis=1)).astype(np.float64)
        return flat, counts
    if isinstance(values, np.ndarray) and values.dtype != object:
        if values.ndim == 1:  # one jet
            return values.astype(np.float64), np.array([values.shape[0]], np.int64)
        if values.ndim == 2:  # padded [n_jets, max_particles]
            return values.reshape(-1).astype(np.float64), np.full(values.shape[0], values.shape[1], np.int64)
        raise TriggerHGQError(f"jet features: `{name}` must be 1D (one jet) or 2D, got shape {values.shape}")
    if isinstance(values, Sequence) or isinstance(values, np.ndarray):
        arrays = [np.asarray(v, dtype=np.float64).reshape(-1) for v in values]
        counts = np.array([a.shape[0] for a in arrays], np.int64)
        flat = np.concatenate(arrays) if arrays else np.zeros(0)
        return flat, counts
    raise TriggerHGQError(f"jet features: `{name}` has unsupported type {type(values).__name__}")


def compute_jet_features(
    pt,
    eta,
    phi,
    *,
    mass=None,
    energy=None,
    zcut: float = 0.1,
    beta: float = 0.0,
    r0: float = 0.8,
) -> dict[str, np.ndarray]:
    """The 16 high-level features of each jet from its constituents.

    ``pt`` [GeV], ``eta``, ``phi`` [rad] and exactly one of ``mass`` or ``energy`` [GeV] are per-jet particle
    arrays: an awkward ``[n_jets][n_particles]`` array, a list of 1D arrays, a padded 2D array (particles with
    ``pt <= 0`` are padding and ignored), or one 1D array for a single jet. ``zcut``, ``beta`` and ``r0`` set
    the SoftDrop grooming (the dataset uses mMDT: 0.1, 0, 0.8). Returns ``{name: float64 array [n_jets]}`` in
    :data:`FEATURE_NAMES` order.
    """
    if (mass is None) == (energy is None):
        raise TriggerHGQError("jet features: give exactly one of `mass` or `energy` per particle")
    fourth_name = "mass" if energy is None else "energy"
    columns = {"pt": pt, "eta": eta, "phi": phi, fourth_name: mass if energy is None else energy}
    flat: dict[str, np.ndarray] = {}
    counts = None
    for name, values in columns.items():
        flat[name], c = _flatten(values, name)
        if counts is None:
            counts = c
        elif c.shape != counts.shape or np.any(c != counts):
            raise TriggerHGQError(f"jet features: `{name}` has a different number of jets or particles than `pt`")
        if not np.all(np.isfinite(flat[name])):
            raise TriggerHGQError(f"jet features: `{name}` contains NaN or Inf")
    keep = flat["pt"] > 0.0
    jet_index = np.repeat(np.arange(counts.shape[0]), counts)
    counts = np.bincount(jet_index[keep], minlength=counts.shape[0]).astype(np.int64)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise TriggerHGQError(f"jet features: jet {int(empty[0])} has no particle with pt > 0")
    ptv, etav, phiv = flat["pt"][keep], flat["eta"][keep], flat["phi"][keep]
    px = ptv * np.cos(phiv)
    py = ptv * np.sin(phiv)
    pz = ptv * np.sinh(etav)
    if energy is None:
        m = flat["mass"][keep]
        e = np.sqrt(px * px + py * py + pz * pz + m * m)
    else:
        e = flat["energy"][keep]
    offsets = np.zeros(counts.shape[0] + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    _compile()
    values = _all_jets(px, py, pz, e, offsets, float(zcut), float(beta), float(r0))
    return {name: values[:, i] for i, name in enumerate(FEATURE_NAMES)}
