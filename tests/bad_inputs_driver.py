"""Run many `trigger-hgq` command lines in ONE Python process (TensorFlow imported once) for test_bad_inputs.py.

python tests/bad_inputs_driver.py WORKSPACE SHARED CASES.json RESULTS.json

Each case is ``[id, argv]``; ``{WS}`` and ``{SHARED}`` in argv are replaced. The driver first writes the input
files the cases use into WORKSPACE/inputs, then runs ``trigger_hgq.cli.main(argv)`` per case with WORKSPACE as the
working directory, capturing stderr; an exception escaping main() is recorded as Python prints it (a Traceback),
exactly what the console script would show. For each case it records the exit code, stderr, and the paths that
appeared under WORKSPACE during the case.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import traceback
from pathlib import Path


def make_inputs(ws: Path, shared: Path) -> None:
    import keras
    import numpy as np

    import trigger_hgq as th
    from trigger_hgq.convert import save_model

    inp = ws / "inputs"
    inp.mkdir()
    x = keras.Input((16,), name="x")
    h = th.HQuantize(name="inq")(x)
    save_model(keras.Model(x, th.HDense(5, name="dense")(h), name="untrained"), inp / "untrained_hgq.keras")
    float_model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(5, name="d")])
    float_model.save(inp / "float.h5")
    rng = np.random.default_rng(0)
    np.save(inp / "good.npy", rng.normal(size=(20, 16)).astype(np.float32))
    np.save(inp / "wrong_shape.npy", rng.normal(size=(20, 7)).astype(np.float32))
    np.save(inp / "flat.npy", rng.normal(size=16).astype(np.float32))
    nan = rng.normal(size=(20, 16)).astype(np.float32)
    nan[3, 2] = np.nan
    np.save(inp / "nan.npy", nan)
    inf = rng.normal(size=(20, 16))
    inf[7, 0] = np.inf
    np.save(inp / "inf.npy", inf)
    np.save(inp / "strings.npy", np.array([["a"] * 16]))
    np.save(inp / "empty.npy", np.zeros((0, 16), np.float32))
    np.savez(inp / "two.npz", a=np.zeros((2, 16)), b=np.zeros((2, 16)))
    (inp / "text.npy").write_text("not an array\n")
    (inp / "list.json").write_text("[1, 2]\n")
    (inp / "broken.json").write_text("{not json\n")
    (inp / "a_file").write_text("a regular file\n")
    (inp / "not_a_model.h5").write_text("plain text, not HDF5\n")
    (inp / "existing_project").write_text("a regular file where the project would go\n")
    (inp / "user_folder").mkdir()
    (inp / "user_folder" / "thesis.tex").write_text("precious\n")
    (inp / "dir.keras").mkdir()
    (inp / "data_dir").mkdir()
    shutil.copy(shared / "root-samples" / "uproot-small-evnt-tree-fullsplit.root", inp / "bare.root")
    (inp / "bad_key_card.yaml").write_text("name: broken\nfiles: [bare.root]\ntree: jets\nfeatures: [a]\n"
                                           "label: {branch: y}\nclasses: [a, b]\nsplitt: {}\n")
    card = (Path(__file__).resolve().parents[1] / "datasets" / "jets_hlf.yaml").read_text()
    (inp / "missing_file_card.yaml").write_text(card.replace("- jets_hlf.root", "- no_such_jets.root"))
    shipped = Path(__file__).resolve().parents[1] / "datasets" / "jets_hlf.root"
    (inp / "missing_branch_card.yaml").write_text(card.replace("- jets_hlf.root", f"- {shipped}")
                                                  .replace("- j_zlogz", "- j_no_such_branch"))
    (inp / "not_yaml.yaml").write_text("name: [unclosed\n")
    repo_config = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "jet_tagging.yaml"
    base = f"base: {repo_config}\ndataset: {repo_config.parents[2] / 'datasets' / 'jets_hlf.yaml'}\n"
    (inp / "unknown_key.yaml").write_text(base + "colour: red\n")
    (inp / "inf_budget.yaml").write_text(base + "budget: {latency_ns: .inf}\n")
    (inp / "string_budget.yaml").write_text(base + "budget: {clock_ns: fast}\n")
    (inp / "bad_rows.yaml").write_text(base + "max_train_rows: -5\n")
    (inp / "bad_rtl.yaml").write_text(base + "export: {rtl: {hgq: -1}}\n")
    (inp / "lut_fraction.yaml").write_text(base + "budget: {lut_fraction: 2}\n")
    configs = repo_config.parent
    (inp / "bad_baseline.yaml").write_text(f"base: {configs / 'baselines' / 'jet_tagger_6bit.yaml'}\n"
                                           "training: {epochs: many}\n")
    (inp / "with_bad_baseline.yaml").write_text(base + f"float: {{enabled: false}}\n"
                                                f"baselines: {{configs: [{inp / 'bad_baseline.yaml'}]}}\n")
    (inp / "bad_search.yaml").write_text(f"base: {configs / 'autoqkeras.yaml'}\nmode: grid\n")
    (inp / "with_bad_search.yaml").write_text(
        base + f"float: {{enabled: false}}\nbaselines: {{configs: [{configs / 'baselines' / 'jet_tagger_6bit.yaml'}]}}"
        "\n"
        f"autoqkeras: {{config: {inp / 'bad_search.yaml'}}}\n")
    (inp / "bad_value_card.yaml").write_text(card.replace("\nconstituents: null", "\nconstituents: "
                                                          "{branches: [pt], max_particles: abc}"))
    particles = repo_config.parent / "jet_tagging_constituents.yaml"
    bl = configs / "baselines"
    base_p = (f"base: {particles}\ndataset: {repo_config.parents[2] / 'datasets' / 'jets_constituents.yaml'}\n"
              f"float: {{config: {bl / 'deepsets_float.yaml'}}}\nautoqkeras: {{config: "
              f"{configs / 'autoqkeras_deepsets.yaml'}}}\nbaselines: {{configs: [{bl / 'deepsets_8bit.yaml'}]}}\n"
              "hgq: {start_from: deepsets_8bit}\n")
    (inp / "particles_on_features_card.yaml").write_text(
        base_p.replace("jets_constituents.yaml", "jets_hlf.yaml"))
    (inp / "too_many_particles.yaml").write_text(base_p + "n_particles: 128\n")
    (inp / "mean_over_24.yaml").write_text(base_p + "n_particles: 24\n")
    (inp / "particles_without_n.yaml").write_text(base_p + "n_particles: null\nmirrors: null\n")
    (inp / "mirrors_on_features.yaml").write_text(base + "mirrors: [phi, eta]\n")
    (inp / "mirrors_bad_plane.yaml").write_text(base_p + "mirrors: [phi, z]\n")
    (inp / "mirrors_twice.yaml").write_text(base_p + "mirrors: [phi, phi]\n")
    deepsets = configs / "baselines" / "deepsets_8bit.yaml"
    (inp / "deepsets_on_features.yaml").write_text(base + f"float: {{enabled: false}}\nbaselines: {{configs: "
                                                   f"[{deepsets}]}}\nhgq: {{start_from: deepsets_8bit}}\n")


def snapshot(ws: Path) -> set[str]:
    return {str(p.relative_to(ws)) for p in ws.rglob("*")}


def run_case(argv: list[str]) -> tuple[int, str]:
    from trigger_hgq.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse errors
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # what the console script would print
            traceback.print_exc()
            code = 1
    return code, err.getvalue()


def main() -> int:
    ws, shared, cases_file, results_file = (Path(a) for a in sys.argv[1:5])
    ws.mkdir(parents=True, exist_ok=True)
    make_inputs(ws, shared)
    os.chdir(ws)
    results = {}
    for case_id, argv in json.loads(cases_file.read_text()):
        argv = [a.replace("{WS}", str(ws)).replace("{SHARED}", str(shared)) for a in argv]
        before = snapshot(ws)
        code, err = run_case(argv)
        results[case_id] = {"argv": argv, "code": code, "stderr": err, "new": sorted(snapshot(ws) - before)}
    Path(results_file).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
