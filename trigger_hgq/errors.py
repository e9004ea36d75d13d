"""The one exception type for errors a user can cause (bad file, branch, layer, config key...)."""

from __future__ import annotations


class TriggerHGQError(Exception):
    """A user-facing error. The message names the file, tree, branch, layer or config key at fault.

    The CLI prints it as one line and exits with code 2 (no traceback).
    """

    exit_code = 2
