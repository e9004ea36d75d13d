"""How much third-party chatter a run shows: ``-v`` brings back Keras' logs and the warnings silenced here.

Level 0 (default): Keras trains silently (our progress bars report instead), TensorFlow logs errors only, and
known-harmless third-party warnings raised inside :func:`quiet_warnings` are dropped. Level 1 (``-v``): Keras
prints one line per epoch, TensorFlow logs warnings, and nothing is silenced. Level 2 (``-vv``): Keras' per-batch
progress bars. The level lives in the environment (``TRIGGER_HGQ_VERBOSE``) so that Dask workers started from
this process inherit it. :func:`quiet_native_logs` silences the native TensorFlow / XLA lines of a worker process.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing.util
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator

ENV = "TRIGGER_HGQ_VERBOSE"

# (category, message regex) of third-party warnings that say nothing to a user of trigger-hgq
HARMLESS_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    # QKeras quantizers sit in Keras' constraint slots; Keras warns on every save / get_config of such a layer
    (UserWarning, r"The `keras\.constraints\.serialize\(\)` API should only be used"),
    # a reloaded checkpoint is evaluated or fine-tuned with a fresh optimizer, never the saved one's state
    (UserWarning, r"Skipping variable loading for optimizer"),
    # AutoQKeras clones models with their initializer instances; the clone's weights are then trained anyway
    (UserWarning, r"The initializer \w+ is unseeded"),
    # Keras Tuner / TF internals on every trial
    (DeprecationWarning, r".*"),
)


def set_verbosity(level: int) -> None:
    """Set the verbosity of this process and of workers started from it."""
    os.environ[ENV] = str(max(0, int(level)))


def verbosity() -> int:
    try:
        return max(0, int(os.environ.get(ENV, "0")))
    except ValueError:
        return 0


def keras_verbose(level: int | None = None) -> int:
    """The ``verbose`` argument of ``Model.fit``: 0 silent, 2 one line per epoch (``-v``), 1 progress bars."""
    level = verbosity() if level is None else level
    return 0 if level <= 0 else 2 if level == 1 else 1


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Drop :data:`HARMLESS_WARNINGS` raised inside the block (unless verbose); other warnings still show."""
    with warnings.catch_warnings():
        if verbosity() == 0:
            for category, pattern in HARMLESS_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern, category=category)
        yield


# native (C++) log lines that TF_CPP_MIN_LOG_LEVEL does not reach: absl's notice before its logging is set up,
# and its INFO / WARNING lines (XLA's "Compiled cluster using XLA!"), and TensorFlow's own INFO / WARNING lines
NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] )"
)
_native_filter: list[int] = []  # the original stderr descriptor, once the filter is installed


def quiet_native_logs() -> None:
    """In this process (a pipeline run, a worker), unless verbose: TensorFlow logs errors only
    (``TF_CPP_MIN_LOG_LEVEL``, effective when set before TensorFlow is imported) and the :data:`NATIVE_NOISE` lines
    written to file descriptor 2 are dropped (a thread forwards every other line). Installed once per process."""
    if verbosity() > 0 or _native_filter:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    _native_filter.append(original)

    def forward() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for line in iter(pipe.readline, b""):
                if not NATIVE_NOISE.match(line):
                    os.write(original, line)

    def drain() -> None:  # at exit: close the pipe, so that the last lines are forwarded before the process ends
        sys.stderr.flush()
        os.dup2(original, 2)
        thread.join(timeout=2.0)

    thread = threading.Thread(target=forward, name="trigger-hgq-stderr", daemon=True)
    thread.start()
    atexit.register(drain)
    multiprocessing.util.Finalize(None, drain, exitpriority=0)  # worker processes end without atexit
