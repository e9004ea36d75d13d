"""Worker processes are as quiet as the main process: no absl / XLA banner lines in the run's log unless -v."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOISE = ("absl::InitializeLog", "Compiled cluster using XLA")

SCRIPT = '''
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor


def compile_once(_):
    """An XLA-compiled step, as HGQ training runs, and a line of the task's own on stderr."""
    import numpy as np
    import tensorflow as tf

    step = tf.function(lambda x: tf.reduce_sum(x * 2.0), jit_compile=True)
    print("task line on stderr", file=sys.stderr, flush=True)
    return float(step(tf.constant(np.ones(4, np.float32))))


if __name__ == "__main__":
    if sys.argv[1] == "plain":
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            print(list(pool.map(compile_once, [0])))
    else:
        from trigger_hgq.pipeline.executor import PoolExecutor

        pool = PoolExecutor(1)
        try:
            print(pool.map(compile_once, [0]))
        finally:
            pool.close()
'''


def _run(tmp_path: Path, mode: str, verbose: str) -> subprocess.CompletedProcess:
    script = tmp_path / "worker_logs.py"
    script.write_text(SCRIPT)
    # TF_CPP_MIN_LOG_LEVEL unset, as in a user's shell: TensorFlow then logs its banner lines in every process
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(PYTHONPATH=str(REPO), TRIGGER_HGQ_VERBOSE=verbose)
    proc = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[8.0]"
    return proc


def test_process_pool_workers_drop_tensorflow_banner_lines_unless_verbose(tmp_path):
    plain = _run(tmp_path, "plain", "0")  # a bare spawned worker prints them
    assert all(text in plain.stderr for text in NOISE), plain.stderr
    quiet = _run(tmp_path, "executor", "0")
    assert not any(text in quiet.stderr for text in NOISE), quiet.stderr
    assert "task line on stderr" in quiet.stderr  # the worker's other lines still reach the log
    verbose = _run(tmp_path, "executor", "1")  # -v: the worker's lines reach the log, as in the main process
    assert "task line on stderr" in verbose.stderr
