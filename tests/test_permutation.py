"""The set-function HGQ models (Deep Sets; the linear-cost interaction network) do not see the order of a jet's
particles, nor where its padding sits: on 1,000 real jets (the shipped file) with their particles shuffled, the
logits are bit-identical in Keras, in hls4ml's C simulation and in the RTL route."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

import trigger_hgq as th
from trigger_hgq.data import load_dataset, parse_card
from trigger_hgq.models import hgq_start_model

REPO = Path(__file__).resolve().parents[1]
N_PARTICLES = 16
N_JETS = 1000
SET_MODELS = {"deepsets_8bit": "jets_constituents.yaml", "interaction_8bit": "jets_constituents16.yaml"}
"""Each set-function baseline config -> the particle card its inputs come from (7 or 16 features)."""


@pytest.fixture(scope="module", params=sorted(SET_MODELS))
def architecture(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def jets(constituent_sample, architecture) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train rows, 1,000 test rows, their mask) of the leading particles of real jets."""
    card = yaml.safe_load((REPO / "datasets" / SET_MODELS[architecture]).read_text())
    card["files"] = [str(constituent_sample)]
    ds = load_dataset(parse_card(card), standardize=False, use_cache=False)
    x = ds.train.constituents[:, :N_PARTICLES]
    held_out = (ds.val, ds.select, ds.test)
    test = np.concatenate([s.constituents for s in held_out])[:N_JETS, :N_PARTICLES]
    mask = np.concatenate([s.mask for s in held_out])[:N_JETS, :N_PARTICLES]
    assert len(test) == N_JETS
    return x, test, mask


@pytest.fixture(scope="module")
def model(jets, architecture):
    """The HGQ model of the architecture's config (fresh, default bits), trained a little, calibrated."""
    x, _, _ = jets
    keras.utils.set_random_seed(0)
    config = REPO / "pipelines" / "configs" / "baselines" / f"{architecture}.yaml"
    m = hgq_start_model(None, config, 0, input_shape=x.shape[1:])
    y = np.random.default_rng(0).integers(0, 5, len(x))
    m.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(x, y, batch_size=512, epochs=2, verbose=0)
    th.calibrate(m, x)
    return m


def _shuffled(x: np.ndarray, mask: np.ndarray, seed: int, padding_too: bool) -> np.ndarray:
    """Each jet's real particles in a random order (``padding_too``: padded slots mixed in among them)."""
    rng = np.random.default_rng(seed)
    out = x.copy()
    for i in range(len(x)):
        slots = np.arange(x.shape[1]) if padding_too else np.flatnonzero(mask[i])
        out[i, slots] = x[i, rng.permutation(slots)]
    return out


def _with_padding(x: np.ndarray, mask: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The same jets with their softest particles cut at random counts (4..16): zero-padded as the loader pads."""
    keep = np.random.default_rng(seed).integers(4, x.shape[1] + 1, len(x))
    cut = mask & (np.arange(x.shape[1])[None, :] < keep[:, None])
    return np.where(cut[:, :, None], x, np.float32(0)), cut


def test_keras_logits_are_bit_identical_under_shuffles(model, jets):
    _, x, mask = jets
    want = model.predict(x, batch_size=N_JETS, verbose=0)
    shuffled = _shuffled(x, mask, 1, padding_too=False)
    assert np.any(shuffled != x)  # particles did move
    np.testing.assert_array_equal(model.predict(shuffled, batch_size=N_JETS, verbose=0), want)
    padded, cut = _with_padding(x, mask, 2)
    want_padded = model.predict(padded, batch_size=N_JETS, verbose=0)
    assert (~cut).sum() > N_JETS  # many padded slots
    np.testing.assert_array_equal(
        model.predict(_shuffled(padded, cut, 3, padding_too=True), batch_size=N_JETS, verbose=0), want_padded)


@pytest.mark.slow
def test_c_simulation_logits_are_bit_identical_under_shuffles(model, jets, tmp_path):
    _, x, mask = jets
    padded, cut = _with_padding(x, mask, 2)
    rows = np.concatenate([x, padded])
    export = th.to_hls4ml(model, tmp_path / "prj", x=rows)
    assert export.report["bit_exact_fraction"] == 1.0 and export.report["n_checked"] == 2 * N_JETS

    def csim(a: np.ndarray) -> np.ndarray:
        return np.asarray(export.hls_model.predict(np.ascontiguousarray(a.reshape(len(a), -1), np.float64)))

    want = csim(rows)
    np.testing.assert_array_equal(want, model.predict(rows, batch_size=2 * N_JETS, verbose=0).astype(want.dtype))
    moved = np.concatenate([_shuffled(x, mask, 1, padding_too=False), _shuffled(padded, cut, 3, padding_too=True)])
    np.testing.assert_array_equal(csim(moved), want)


def _small_rtl_model(architecture: str, n_features: int) -> keras.Model:
    """A small model of the architecture on 8 particles (its firmware fits a test's yosys run)."""
    inp = keras.Input((8, n_features))
    h = th.HQuantize(name="inq", per_particle=True, beta=3e-5)(inp)
    if architecture == "deepsets_8bit":
        h = th.HDense(8, activation="relu", use_bias=False, name="phi1", beta=3e-5)(h)
        h = th.HDense(8, activation="relu", use_bias=False, name="phi2", beta=3e-5)(h)
    else:
        from trigger_hgq.blocks import interaction
        from trigger_hgq.models import HGQKit

        h = interaction(HGQKit({}), h, 4, "relu", "int1")
    h = th.HGlobalAveragePooling1D(name="mean", beta=3e-5)(h)
    out = th.HDense(5, name="rho", beta=3e-5)(h)
    return keras.Model(inp, out)


@pytest.mark.slow
def test_rtl_route_is_bit_exact_on_shuffled_particles(jets, architecture, tmp_path):
    """A small model of the architecture (8 particles) through da4ml -> yosys -> Verilator: equal to Keras on 1,000
    real jets and on the same jets with their particles shuffled."""
    import shutil

    pytest.importorskip("da4ml", reason="the rtl extra (da4ml) is not installed")
    if shutil.which("yosys") is None or shutil.which("verilator") is None:
        pytest.skip("yosys and verilator (Debian packages, .ci/apt-packages) are not installed")
    from trigger_hgq.export.rtl import build_rtl

    x_train, x, mask = (a[:, :8] for a in jets)
    x_train, x = x_train[..., :7], x[..., :7]  # 7 features: a yosys run of a test's length
    keras.utils.set_random_seed(0)
    model = _small_rtl_model(architecture, x.shape[-1])
    y = np.random.default_rng(0).integers(0, 5, len(x_train))
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y, batch_size=256, epochs=2, verbose=0)
    th.calibrate(model, x_train)
    rows = np.concatenate([x, _shuffled(x, mask, 4, padding_too=False)])
    rtl = build_rtl(model, tmp_path, rows, clock_ns=5.0, part_family="xcup")
    assert rtl["check"]["n_checked"] == len(rows) and rtl["check"]["bit_exact_fraction"] == 1.0
    traced = np.asarray(model.predict(rows, batch_size=len(rows), verbose=0))
    np.testing.assert_array_equal(traced[N_JETS:], traced[:N_JETS])  # the shuffles change nothing
    assert rtl["synthesis"]["lut"] > 0 and rtl["synthesis"]["dsp"] == 0
