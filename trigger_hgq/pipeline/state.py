"""Resumable run state (``DIR/state.json``) and atomic file writes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from trigger_hgq.atomic import write_json_atomic


class RunState:
    """Which stages of a run are finished, with what inputs (fingerprint), outputs and wall time (s).

    A stage is skipped on a rerun when it finished with the same fingerprint, unless ``force``.
    """

    def __init__(self, out_dir: str | Path, force: bool = False):
        self.path = Path(out_dir) / "state.json"
        self.force = force
        self.data: dict = {"stages": {}}
        self._lock = threading.Lock()
        if self.path.exists() and not force:
            self.data = json.loads(self.path.read_text())

    def done(self, stage: str, key: str) -> dict | None:
        """The recorded outputs of ``stage`` if it finished with fingerprint ``key``."""
        entry = self.data["stages"].get(stage)
        if entry and entry.get("key") == key and entry.get("status") == "done":
            return entry["outputs"]
        return None

    def key(self, stage: str) -> str | None:
        """The fingerprint ``stage`` last finished with (None: never finished)."""
        entry = self.data["stages"].get(stage)
        return entry.get("key") if entry and entry.get("status") == "done" else None

    def record(self, stage: str, key: str, outputs: dict, seconds: float) -> None:
        """Record a finished stage (stages that run side by side record one at a time)."""
        with self._lock:
            self.data["stages"][stage] = {"status": "done", "key": key, "outputs": outputs,
                                          "seconds": round(seconds, 2),
                                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
            write_json_atomic(self.path, self.data)

    def timings(self) -> dict[str, float]:
        return {name: entry["seconds"] for name, entry in self.data["stages"].items() if "seconds" in entry}
