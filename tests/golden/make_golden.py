"""Write the golden fixtures of tests/golden/ with the Keras 2 code (commit 8195cef, tensorflow-cpu 2.15.1).

Run with the old environment against the old worktree, from the repository root of /work/main:

    PYTHONPATH=/work/old /work/venv_old/bin/python tests/golden/make_golden.py [--out tests/golden]

Two HGQ models are built, trained briefly on the shipped dataset (datasets/jets_hlf.root, read through the
loader), calibrated on their training rows and written, one folder each:

* ``jet_mlp/``: the jet MLP of the README (HQuantize -> HDense 64 relu -> 32 relu -> 32 relu -> 5) on the 16
  standardized high-level features (``datasets/jets_hlf.yaml``).
* ``deepsets/``: a per-particle Deep Sets (HQuantize per particle -> HDense 16 relu -> HDense 16 relu, no bias ->
  HGlobalAveragePooling1D -> HDense 5) on the 8 leading particles x 7 features (``datasets/jets_constituents.yaml``).

Files of each folder:

* ``layers.json``: ``[{"class_name", "name", "config" (get_config()), "inbound" (names of the input layers)}]`` in
  the model's layer order (the InputLayer first).
* ``weights.npz``: every variable of every layer, keyed ``<layer name>/<variable name>`` (the TF name without the
  layer prefix and the ``:0`` suffix): ``kernel``, ``bias``, ``kernel_f``, ``bias_f``, ``out_f``, ``out_vmin``,
  ``out_vmax``, ``beta`` (values as stored: ``f`` is divided by the quantizer's ``lr_scale``).
* ``inputs.npy``: 2,000 test rows, float32; ``outputs.npy``: the model on them in inference mode, float32.
* ``ebops.json``: ``{"ebops": th.ebops(model), "layer_ebops": th.layer_ebops(model)}``.
* ``kif.npz``: ``kif_numpy()`` of every quantizer, keyed ``<layer name>/<quantizer>/<k|i|f>`` with quantizer in
  ``kernel`` (of the folded kernel), ``bias`` and ``out`` (int64 arrays, zero where ``k + i + f <= 0``).
* ``train.json``: how it was trained (data, epochs, seed, losses) and the stack that produced it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import trigger_hgq as th  # noqa: E402
from trigger_hgq.data import load_dataset  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
N_ROWS = 2000
N_PARTICLES = 8
SEED = 0


def jet_mlp() -> tf.keras.Model:
    inp = tf.keras.Input((16,), name="x")
    h = th.HQuantize(beta=0, name="inq")(inp)
    h = th.HDense(64, activation="relu", name="dense_1")(h)
    h = th.HDense(32, activation="relu", name="dense_2")(h)
    h = th.HDense(32, activation="relu", name="dense_3")(h)
    out = th.HDense(5, name="dense_4")(h)
    return tf.keras.Model(inp, out, name="jet_mlp")


def deepsets() -> tf.keras.Model:
    inp = tf.keras.Input((N_PARTICLES, 7), name="particles")
    h = th.HQuantize(beta=0, per_particle=True, name="inq")(inp)
    h = th.HDense(16, activation="relu", use_bias=False, name="phi_1")(h)
    h = th.HDense(16, activation="relu", use_bias=False, name="phi_2")(h)
    h = th.HGlobalAveragePooling1D(name="mean")(h)
    out = th.HDense(5, name="rho")(h)
    return tf.keras.Model(inp, out, name="deepsets")


def layer_records(model: tf.keras.Model) -> list[dict]:
    """Class name, config and producer layer names of every layer, in the model's order."""
    records = []
    for layer in model.layers:
        inbound = []
        for node in layer._inbound_nodes:  # the Keras 2 way to read the graph (this script runs on Keras 2 only)
            producers = node.inbound_layers
            producers = producers if isinstance(producers, list | tuple) else [producers]
            inbound.extend(p.name for p in producers)
        records.append({"class_name": type(layer).__name__, "name": layer.name, "config": layer.get_config(),
                        "inbound": inbound})
    return records


def weight_arrays(model: tf.keras.Model) -> dict[str, np.ndarray]:
    """Every variable, keyed ``<layer>/<variable>``."""
    arrays = {}
    for layer in model.layers:
        for var in layer.weights:
            name = var.name.split(":")[0]
            short = name[len(layer.name) + 1:] if name.startswith(layer.name + "/") else name
            key = f"{layer.name}/{short}"
            if key in arrays:
                raise SystemExit(f"duplicate variable key {key}")
            arrays[key] = var.numpy()
    return arrays


def kif_arrays(model: tf.keras.Model) -> dict[str, np.ndarray]:
    """``kif_numpy()`` of every quantizer (weights: of the folded kernel / bias values)."""
    arrays = {}
    for layer in model.layers:
        if not isinstance(layer, th.HLayer):
            continue
        for q in layer.quantizers():
            values = None
            if q.is_weight:
                kernel, bias = layer.folded()
                values = kernel if q is layer.kq else bias
            for part, a in zip("kif", q.kif_numpy(values), strict=True):
                arrays[f"{layer.name}/{q.name}/{part}"] = a
    return arrays


def train(model: tf.keras.Model, x: np.ndarray, y: np.ndarray, epochs: int) -> list[float]:
    th.compile_for_hgq(model, learning_rate=3e-3)
    hist = model.fit(x, y, epochs=epochs, batch_size=1024, verbose=0, shuffle=True, callbacks=[
        th.ResetRanges(), th.BetaScheduler(1e-6, 3e-5, epochs=epochs, kind="loglinear")])
    return [float(v) for v in hist.history["loss"]]


def write(model: tf.keras.Model, out: Path, x_calib: np.ndarray, rows: np.ndarray, labels: np.ndarray,
          info: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    th.calibrate(model, x_calib)
    outputs = model(rows, training=False).numpy().astype(np.float32)
    info["accuracy_on_inputs"] = float(np.mean(np.argmax(outputs, 1) == labels))
    (out / "layers.json").write_text(json.dumps(layer_records(model), indent=1) + "\n")
    np.savez_compressed(out / "weights.npz", **weight_arrays(model))
    np.save(out / "inputs.npy", rows.astype(np.float32))
    np.save(out / "outputs.npy", outputs)
    (out / "ebops.json").write_text(json.dumps({"ebops": th.ebops(model), "layer_ebops": th.layer_ebops(model)},
                                               indent=1) + "\n")
    np.savez_compressed(out / "kif.npz", **kif_arrays(model))
    (out / "train.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{out}: ebops {th.ebops(model)}, accuracy on the {len(rows)} rows "
          f"{info['accuracy_on_inputs']:.4f}", flush=True)


def check(folder: Path, model: tf.keras.Model) -> None:
    """Load ``folder``'s weights into a freshly built ``model`` by key and compare outputs, EBOPs and (k, i, f)."""
    model(np.load(folder / "inputs.npy")[:1], training=False)  # build
    weights = np.load(folder / "weights.npz")
    keys = weight_arrays(model).keys()
    if set(keys) != set(weights.files):
        raise SystemExit(f"{folder}: variable keys differ: {sorted(set(keys) ^ set(weights.files))}")
    for layer in model.layers:
        for var in layer.weights:
            short = var.name.split(":")[0][len(layer.name) + 1:]
            var.assign(weights[f"{layer.name}/{short}"])
    out = model(np.load(folder / "inputs.npy"), training=False).numpy()
    same = np.array_equal(out, np.load(folder / "outputs.npy"))
    ebops = json.loads((folder / "ebops.json").read_text())
    same_ebops = ebops == {"ebops": th.ebops(model), "layer_ebops": th.layer_ebops(model)}
    kif = np.load(folder / "kif.npz")
    mine = kif_arrays(model)
    same_kif = set(mine) == set(kif.files) and all(np.array_equal(mine[k], kif[k]) for k in mine)
    print(f"{folder}: outputs equal {same}, ebops equal {same_ebops}, kif equal {same_kif}", flush=True)
    if not (same and same_ebops and same_kif):
        raise SystemExit(1)


def stack() -> dict:
    """The commit of the trigger_hgq that runs and the versions of the stack."""
    from importlib.metadata import version

    commit = subprocess.run(["git", "-C", str(Path(th.__file__).resolve().parents[1]), "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"commit": commit, "python": platform.python_version(),
            **{pkg: version(pkg) for pkg in ("tensorflow-cpu", "keras", "qkeras", "hls4ml", "numpy")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--check", action="store_true",
                        help="only reload the fixtures of --out into fresh models and compare (no training)")
    args = parser.parse_args()
    if args.check:
        check(args.out / "jet_mlp", jet_mlp())
        check(args.out / "deepsets", deepsets())
        return
    env = stack()
    print(json.dumps(env), flush=True)

    hlf = load_dataset(ROOT / "datasets" / "jets_hlf.yaml")
    tf.keras.utils.set_random_seed(SEED)
    model = jet_mlp()
    losses = train(model, hlf.x_train, hlf.y_train, args.epochs)
    rows, labels = hlf.x_test[:N_ROWS], hlf.y_test[:N_ROWS]
    info = {"data": "datasets/jets_hlf.yaml (standardized), train split; inputs: first 2000 test rows",
            "epochs": args.epochs, "batch_size": 1024, "learning_rate": 3e-3, "seed": SEED,
            "beta": "loglinear 1e-6 -> 3e-5", "train_loss": losses, "calibrated_on": "train split",
            "stack": env}
    write(model, args.out / "jet_mlp", hlf.x_train, rows, labels, info)

    cons = load_dataset(ROOT / "datasets" / "jets_constituents.yaml")
    x_train = cons.train.constituents[:, :N_PARTICLES].astype(np.float32)
    rows = cons.test.constituents[:N_ROWS, :N_PARTICLES].astype(np.float32)
    labels = cons.y_test[:N_ROWS]
    tf.keras.utils.set_random_seed(SEED)
    model = deepsets()
    losses = train(model, x_train, cons.y_train, args.epochs)
    info = {"data": f"datasets/jets_constituents.yaml, {N_PARTICLES} leading particles x 7 features (standardized,"
                    " padding 0), train split; inputs: first 2000 test rows",
            "epochs": args.epochs, "batch_size": 1024, "learning_rate": 3e-3, "seed": SEED,
            "beta": "loglinear 1e-6 -> 3e-5", "train_loss": losses, "calibrated_on": "train split",
            "stack": env}
    write(model, args.out / "deepsets", x_train, rows, labels, info)


if __name__ == "__main__":
    sys.exit(main())
