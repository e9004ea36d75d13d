"""Input checks that the CLI corpus (test_bad_inputs.py) cannot show: library entry points, unreadable files,
numba without a writable cache, and the default input type of from_qkeras."""

from __future__ import annotations

import builtins
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.errors import TriggerHGQError

REPO = Path(__file__).resolve().parents[1]


def _deny(monkeypatch, victim: Path) -> None:
    """Make opening ``victim`` raise PermissionError, as for a chmod 000 file (root reads those anyway)."""
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and Path(file).resolve() == victim.resolve():
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)  # pathlib's read_text


def test_unreadable_root_file_and_card(tmp_path, monkeypatch):
    from trigger_hgq.data import load_dataset
    from trigger_hgq.data.root import open_root

    root = tmp_path / "jets.root"
    shutil.copy(REPO / "datasets" / "jets_hlf.root", root)
    card = tmp_path / "jets.yaml"
    card.write_text((REPO / "datasets" / "jets_hlf.yaml").read_text().replace("- jets_hlf.root", "- jets.root"))
    _deny(monkeypatch, root)
    with pytest.raises(TriggerHGQError, match="jets.root: permission denied"):
        with open_root(root):
            pass
    with pytest.raises(TriggerHGQError, match="jets.root: permission denied"):
        load_dataset(card, use_cache=False)
    monkeypatch.undo()
    _deny(monkeypatch, card)
    with pytest.raises(TriggerHGQError, match="jets.yaml.*ermission denied"):
        load_dataset(card, use_cache=False)


def _tiny_hgq(calibrated: bool) -> keras.Model:
    x = keras.Input((4,), name="x")
    h = th.HQuantize(name="inq")(x)
    model = keras.Model(x, th.HDense(3, name="dense")(h))
    if calibrated:
        th.calibrate(model, np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    return model


def test_to_hls4ml_refuses_a_model_never_trained_or_calibrated(tmp_path):
    from trigger_hgq.export.api import unranged_layers

    model = _tiny_hgq(calibrated=False)
    assert unranged_layers(model) == ["inq", "dense"]
    with pytest.raises(TriggerHGQError, match="layer 'inq'.*never trained or calibrated"):
        th.to_hls4ml(model, tmp_path / "prj")
    assert not (tmp_path / "prj").exists() and list(tmp_path.iterdir()) == []
    assert unranged_layers(_tiny_hgq(calibrated=True)) == []


@pytest.mark.parametrize("x, message", [
    (np.zeros((5, 3)), r"shape \(5, 3\), the model expects \(rows, 4\)"),
    ([np.zeros((5, 4)), np.zeros((5, 4))], "2 array"),
    (np.full((5, 4), np.inf), "5 row.*NaN or Inf.*row 0"),
    (np.zeros((0, 4)), "no rows"),
])
def test_to_hls4ml_checks_inputs_before_any_work(tmp_path, x, message):
    with pytest.raises(TriggerHGQError, match=message):
        th.to_hls4ml(_tiny_hgq(calibrated=True), tmp_path / "prj", x=x)
    assert list(tmp_path.iterdir()) == []


def test_weights_of_another_model_are_refused_by_layer_name(shared):
    from trigger_hgq.convert import load_model

    with pytest.raises(TriggerHGQError, match="layer 'fc1' of .*qkeras_3layer.json.*'fc1_relu' in its place"):
        load_model(shared / "reference-models" / "qkeras_3layer.json",
                   shared / "reference-models" / "KERAS_3layer_weights.h5")


@pytest.mark.slow
def test_numba_without_writable_cache(tmp_path):
    """HOME, NUMBA_CACHE_DIR and the module's folder unwritable (under a regular file, which even root cannot
    create folders in): `--help` works and the jet features compile without an on-disk cache."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file\n")
    env = {**os.environ, "HOME": str(blocker / "home"), "NUMBA_CACHE_DIR": str(blocker / "numba")}
    helped = subprocess.run([sys.executable, "-m", "trigger_hgq.cli", "--help"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert helped.returncode == 0 and "pipeline" in helped.stdout, helped.stderr
    # a copy of the module in a folder whose __pycache__ is a regular file: numba finds no cache folder at all
    pkg = tmp_path / "readonly"
    pkg.mkdir()
    shutil.copy(REPO / "trigger_hgq" / "data" / "generation" / "features.py", pkg / "features_copy.py")
    (pkg / "__pycache__").write_text("not a folder\n")
    script = (  # compile every kernel (no cache possible), run two small ones (the full set compiles for 30 s)
        "import sys, math; sys.path.insert(0, sys.argv[1]); import features_copy as f\n"
        "f._compile()\n"
        "assert all(type(getattr(f, n)._cache).__name__ == 'NullCache' for n in f._JIT_FUNCTIONS)\n"
        "assert f._ratio(1.0, 4.0) == 0.25 and abs(f._phi(0.0, -1.0) - 1.5 * math.pi) < 1e-12; print('ok')\n"
    )
    ran = subprocess.run([sys.executable, "-c", script, str(pkg)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert ran.returncode == 0 and "ok" in ran.stdout, ran.stderr[-2000:]
    assert "Traceback" not in ran.stderr


@pytest.mark.slow
def test_default_input_type_is_hls4ml_default_and_agrees(shared, caplog):
    """from_qkeras with defaults: the inserted input quantizer is ap_fixed<16,6> (hls4ml's default input type),
    says so, and the converted tagger agrees with QKeras on the class of >= 99.9 % of 10,000 normal rows."""
    import logging

    from trigger_hgq.convert import from_qkeras, load_model

    source = load_model(shared / "reference-models" / "qkeras_3layer.json")
    with caplog.at_level(logging.INFO, logger="trigger_hgq.convert.model"):
        converted = from_qkeras(source)
    (text,) = converted.input_types.values()
    assert text.startswith("ap_fixed<16,6>")
    assert "ap_fixed<16,6>" in caplog.text
    k, i, f = (a.max() for a in converted.get_layer(f"{source.inputs[0].name.split(':')[0]}_quantizer").oq
               .kif_numpy())
    assert (k, k + i + f) == (1, 16)
    x = np.random.default_rng(0).standard_normal((10_000, 16)).astype(np.float32)
    agree = np.mean(source.predict(x, verbose=0).argmax(1) == converted.predict(x, verbose=0).argmax(1))
    print(f"default from_qkeras class agreement on 10k normal rows: {agree:.4f}")
    assert agree >= 0.999
