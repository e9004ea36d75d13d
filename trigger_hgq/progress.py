"""Progress on long steps: a tqdm bar on a terminal, plain timestamped lines otherwise (logs, CI, Dask workers).

:func:`log` prints one timestamped line. :class:`Progress` is one bar (i/N with rate and ETA, and a postfix of
metrics); :func:`track` wraps an iterable in one; :func:`keras_progress` is a Keras callback that advances a bar
per epoch (or per ``fit``, for search trials) with metrics from the epoch logs, e.g. beta, EBOPs and validation
accuracy. TensorFlow is imported only there.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

PLAIN_INTERVAL_S = 10.0  # plain lines: at most one per this many seconds (the first and the last always)


def is_terminal(stream: IO | None = None) -> bool:
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def format_metric(name: str, value: Any) -> str:
    """A compact metric: EBOPs as whole numbers, tiny values (beta) in scientific notation, else 4 decimals."""
    if not isinstance(value, int | float):
        return str(value)
    if "ebops" in name.lower():
        return f"{value:,.0f}"
    if isinstance(value, int):
        return str(value)
    return f"{value:.2e}" if value != 0 and abs(value) < 1e-2 else f"{value:.4f}"


def log(msg: str) -> None:
    """One line ``[HH:MM:SS] msg`` on stdout, flushed (a pipeline run's log)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """One progress bar of ``total`` steps named ``desc``.

    On a terminal (``stream``, default stdout) it is a tqdm bar; otherwise it prints a line
    ``[HH:MM:SS] desc: i/N (p%), elapsed, ETA, metrics`` at most every ``interval_s`` seconds and at the last step.
    ``plain`` forces one or the other. ``position``: the terminal line of the bar when several processes show one
    each (tqdm's ``position``). Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, total: int | None, desc: str, unit: str = "step", stream: IO | None = None,
                 plain: bool | None = None, interval_s: float = PLAIN_INTERVAL_S, position: int | None = None):
        self.total, self.desc, self.unit = total, desc, unit
        self.stream = sys.stdout if stream is None else stream
        self.plain = not is_terminal(self.stream) if plain is None else plain
        self.interval_s = interval_s
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self._t0 = time.monotonic()
        self._last_line = -float("inf")
        self._printed = 0  # steps counted when the last plain line was printed
        self._bar = None
        if not self.plain:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True, leave=True,
                             position=position)

    def update(self, n: int = 1, **metrics: Any) -> None:
        """Advance by ``n`` steps; ``metrics`` replace the shown postfix values of the same names."""
        self.n += n
        self.postfix.update(metrics)
        if self._bar is not None:
            if metrics:
                self._bar.set_postfix_str(self._postfix_text(), refresh=False)
            self._bar.update(n)
            return
        now = time.monotonic()
        if self.n == n or now - self._last_line >= self.interval_s or (self.total and self.n >= self.total):
            self._last_line, self._printed = now, self.n
            self._print(self.line())

    def line(self) -> str:
        """The plain-text state: ``desc: i/N (p%), elapsed m:ss, ETA m:ss, metrics``."""
        elapsed = time.monotonic() - self._t0
        parts = [f"{self.n}/{self.total}" if self.total else f"{self.n} {self.unit}s"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"elapsed {format_seconds(elapsed)}")
        if self.total and 0 < self.n < self.total:
            parts.append(f"ETA {format_seconds(elapsed / self.n * (self.total - self.n))}")
        if self.postfix:
            parts.append(self._postfix_text())
        return f"{self.desc}: " + ", ".join(parts)

    def _postfix_text(self) -> str:
        return " ".join(f"{k}={format_metric(k, v)}" for k, v in self.postfix.items())

    def _print(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar; in plain mode, print the final state if the last step was not printed."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.plain and self.n and self._printed != self.n:
            self._printed = self.n
            self._print(self.line())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable, desc: str, total: int | None = None, unit: str = "step", **kwargs: Any) -> Iterator:
    """Yield ``items`` while a :class:`Progress` counts them (i/N with ETA)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, unit=unit, **kwargs) as bar:
        for item in items:
            yield item
            bar.update()


def keras_progress(bar: Progress, metrics: tuple[str, ...] = ("loss", "val_accuracy"), per: str = "epoch"):
    """A Keras callback that advances ``bar`` once per epoch (``per="epoch"``) or once per ``fit`` call
    (``per="fit"``: one step per search trial), showing ``metrics`` from the logs when present.

    It survives ``copy.deepcopy`` (Keras Tuner copies callbacks for every trial): the copies share ``bar``.
    """
    import keras

    if per not in ("epoch", "fit"):
        raise ValueError(f"keras_progress: per must be 'epoch' or 'fit', got {per!r}")

    class _KerasProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.last: dict = {}

        def _shown(self, logs) -> dict:
            return {k: float(logs[k]) for k in metrics if logs and logs.get(k) is not None}

        def on_epoch_end(self, epoch, logs=None):
            self.last = dict(logs or {})
            if per == "epoch":
                bar.update(1, **self._shown(logs))

        def on_train_end(self, logs=None):
            if per == "fit":
                bar.update(1, **self._shown(logs or self.last))

        def __deepcopy__(self, memo):
            return type(self)()

    return _KerasProgress()
