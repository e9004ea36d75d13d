"""Shared fixtures: quiet backends, deterministic seeds, the shared reference folder."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """``$TRIGGER_HGQ_SHARED`` or ``../shared`` beside the checkout (None in a user's clone without it)."""
    env = os.environ.get("TRIGGER_HGQ_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip("reference folder not found: set TRIGGER_HGQ_SHARED or put shared/ beside the checkout")
    return path


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)  # Python, NumPy and the backend's generators
    keras.backend.clear_session(free_memory=False)  # names and global state; Python's own gc frees the rest
    yield                                          # (a full gc.collect per test cost ~0.4 s)


SAMPLE_JETS = 3000
"""Jets in :func:`constituent_sample`: the first entries of the shipped file."""


@pytest.fixture(scope="session")
def constituent_sample(tmp_path_factory) -> Path:
    """The first :data:`SAMPLE_JETS` jets of the shipped ``datasets/jets_hlf.root`` (features and constituents),
    rewritten by the generator's writer to a small ROOT file, for tests that read the particles many times."""
    import uproot

    from trigger_hgq.data.generation.features import FEATURE_NAMES
    from trigger_hgq.data.generation.jetfile import CONSTITUENT_FIELDS, KINEMATICS, write_jet_tree

    tree = uproot.open(REPO / "datasets" / "jets_hlf.root")["jets"]
    arrays = tree.arrays(["label", *KINEMATICS, *FEATURE_NAMES], entry_stop=SAMPLE_JETS, library="np")
    const = tree.arrays([f"const_{f}" for f in CONSTITUENT_FIELDS], entry_stop=SAMPLE_JETS)
    arrays["const"] = {f: const[f"const_{f}"] for f in CONSTITUENT_FIELDS}
    return write_jet_tree(tmp_path_factory.mktemp("constituents") / "jets_sample.root", arrays)


#: The files that hold the suite's longest tests (end-to-end runs, RTL routes, cross-backend training), longest
#: first. ``--dist loadfile`` keeps a file on one worker and ``--no-loadscope-reorder`` hands the files out in
#: collection order: these go first, so that no worker starts one of them while the other has nothing left.
LONGEST_FIRST = ("test_pipeline_run.py", "test_pipeline_constituents.py", "test_permutation.py",
                 "test_backends.py", "test_training.py", "test_rtl_qkeras.py", "test_layer_matrix.py",
                 "test_export_hgq.py", "test_pruning.py", "test_training_policy.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
