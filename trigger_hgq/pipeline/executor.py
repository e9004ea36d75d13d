"""Run independent tasks serially or on a Dask cluster (``--scheduler local`` or a scheduler address).

Tasks are top-level functions taking and returning plain data (paths, dicts), so they run the same in this
process or in a Dask worker; each task seeds TensorFlow itself and enables deterministic ops, so the results do
not depend on where it ran. Worker processes are as quiet as this one: their native TensorFlow / XLA log lines
are dropped unless ``-v`` (:func:`trigger_hgq.verbosity.quiet_native_logs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.verbosity import quiet_native_logs


class SerialExecutor:
    name = "serial"

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            on_done: Callable[[Any], None] | None = None) -> list[Any]:
        """``fn`` of each item, in order; ``on_done(result)`` after each (progress)."""
        results = []
        for item in items:
            results.append(fn(item))
            if on_done is not None:
                on_done(results[-1])
        return results

    def close(self) -> None:
        pass


class PoolExecutor:
    """Tasks in ``n_workers`` fresh processes on this machine (spawned: no TensorFlow state is forked), results in
    order. Used for the firmware exports of a run without ``--scheduler``: each export is single-threaded
    (hls4ml writing, one g++ compile, the C-simulation check), so both cores of a small machine stay busy."""

    def __init__(self, n_workers: int = 2):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=quiet_native_logs)
        self.name = f"processes({n_workers})"

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            on_done: Callable[[Any], None] | None = None) -> list[Any]:
        from concurrent.futures import as_completed

        futures = [self.pool.submit(fn, item) for item in items]
        for future in as_completed(futures):
            result = future.result()  # a task's error is raised here, as in a serial run
            if on_done is not None:
                on_done(result)
        return [f.result() for f in futures]

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


class DaskExecutor:
    """Tasks on ``dask.distributed``: ``local`` starts a LocalCluster on loopback, else connect to an address."""

    def __init__(self, scheduler: str, n_workers: int = 2):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as err:  # the optional extra is missing
            raise TriggerHGQError("--scheduler needs dask.distributed: pip install 'trigger-hgq[dask]'") from err
        self.cluster = None
        if scheduler == "local":
            self.cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
            self.client.run(quiet_native_logs)  # the local workers write into this run's log
        else:
            try:
                self.client = Client(scheduler, timeout=30)
            except OSError as err:
                raise TriggerHGQError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler ({err})") from err
        self.name = f"dask({scheduler})"

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            on_done: Callable[[Any], None] | None = None) -> list[Any]:
        """``fn`` of each item on the cluster, results in order; ``on_done(result)`` as each finishes."""
        futures = self.client.map(fn, list(items), pure=False)
        if on_done is not None:
            from dask.distributed import as_completed

            for future in as_completed(futures):
                on_done(future.result())
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    @staticmethod
    def check_address(scheduler: str | None, timeout_s: float = 5.0) -> None:
        """Fail now, naming ``--scheduler``, when a scheduler address is malformed or nobody listens there."""
        if not scheduler or scheduler == "local":
            return
        import socket
        from urllib.parse import urlsplit

        url = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
        try:
            host, port = url.hostname, url.port
        except ValueError:
            host, port = None, None
        if url.scheme not in ("tcp", "tls") or not host or not port:
            raise TriggerHGQError(f"--scheduler {scheduler!r}: expected 'local' or a Dask address tcp://HOST:PORT")
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
        except OSError as err:
            raise TriggerHGQError(f"--scheduler {scheduler!r}: nobody listens at {host}:{port} "
                                  f"({err.strerror or type(err).__name__})") from None
