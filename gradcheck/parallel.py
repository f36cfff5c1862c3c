"""Perturbation groups in parallel: forked worker processes here, or the workers of a Dask cluster.

A check makes thousands of small forwards, which BLAS threads barely speed up; groups are independent, so
they are split into chunks over processes, each with BLAS limited to one thread. Local workers are forked
(:class:`gradcheck.supervisor.Pool`) for one pass: each is a copy of the check as it stands, so the caller's
layer is never touched from a worker and nothing needs to pickle. Forking costs milliseconds, so only short
passes stay serial. A worker that raises or dies sends the pass back to this process, and the report says so.
On a Dask cluster the target is pickled to the workers, which must be able to import the layer's module.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from gradcheck.numeric import CountedReadout, Estimates, Probe, finite_differences
from gradcheck.supervisor import Pool, WorkerFailed

__all__ = ["Workers", "default_jobs", "input_of", "parameter_of", "PARALLEL_MIN_SECONDS", "ClusterFailed"]

PARALLEL_MIN_SECONDS = 0.5      # expected serial time of one tensor's pass below which workers do not pay


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def input_of(name: str, target) -> np.ndarray:
    """The input tensor ``name`` of a (copied) target."""
    return target.inputs[name]


def parameter_of(owner: int, path: tuple, target) -> np.ndarray:
    """A parameter of a (copied) target: at ``path`` (an attribute, then keys) from its ``owner``-th owner."""
    from gradcheck.parameters import resolve

    return resolve(target.owners[owner][1], path)


def _work(target, locate: Callable, probes: Sequence[Probe], analytic: np.ndarray, step: float, eps: float,
          rule: dict) -> tuple[Estimates, int]:
    from threadpoolctl import threadpool_limits

    counted = CountedReadout(target.readout())
    with threadpool_limits(1):
        return finite_differences(locate(target), probes, counted, analytic, step, eps, **rule), counted.calls


def _merge(parts: list[Estimates]) -> Estimates:
    offsets = np.cumsum([0] + [len(p.numeric) for p in parts])
    skipped = {int(k) + int(off): reason for part, off in zip(parts, offsets) for k, reason in part.skipped.items()}
    cat = {name: np.concatenate([getattr(p, name) for p in parts])
           for name in ("analytic", "numeric", "coarse", "left", "right", "left_h", "right_h", "rounding", "one_sided",
                        "level", "noisy", "model", "half", "excess")}
    return Estimates(skipped=skipped, **cat)


class ClusterFailed(RuntimeError):
    """The Dask workers could not run the check (they cannot import or unpickle it, or raised)."""


class Workers:
    """Runs :func:`finite_differences` for chunks of probes in worker processes."""

    def __init__(self, jobs: int, target, seconds_per_forward: float, scheduler: object | None = None) -> None:
        self.jobs, self.target, self.per_forward = jobs, target, seconds_per_forward
        self.failure: str | None = None         # why the workers could not be used, if they could not
        self.used = False
        self.redone = 0                         # chunks a cluster ran again after losing a worker
        self.scheduler = scheduler              # a Dask scheduler's address (or a distributed.Client)

    def worth_it(self, groups: int) -> bool:
        if self.scheduler is not None:          # asked for by name: every full pass of more than a few groups
            return groups >= 8
        return self.jobs > 1 and self.failure is None and 2 * groups * self.per_forward > PARALLEL_MIN_SECONDS

    def differences(self, locate: Callable, probes: Sequence[Probe], analytic: np.ndarray, step: float, eps: float,
                    rule: dict, tick: Callable[[int], None]) -> Estimates | None:
        """The estimates of all ``probes``, or None if a local worker raised or died (the serial pass then
        runs here, and raises a layer's error with a plain traceback). ``tick(n)`` is told of the forwards
        each chunk took. On a cluster that cannot run the check, :class:`ClusterFailed`."""
        if self.scheduler is not None:
            parts = self._on_cluster(locate, probes, analytic, step, eps, rule, tick)
        else:
            chunks = [c.tolist() for c in np.array_split(np.arange(len(probes)), 4 * self.jobs) if len(c)]

            def work(chunk: list[int]) -> tuple[Estimates, int]:
                return _work(self.target, locate, [probes[i] for i in chunk], analytic, step, eps, rule)
            parts = [None] * len(chunks)
            try:
                with Pool(work, min(self.jobs, len(chunks))) as pool:
                    for i, (part, calls) in pool.results(chunks):
                        parts[i] = part
                        tick(calls)
            except WorkerFailed as exc:
                self.failure = str(exc)
                return None
        self.used = True
        return _merge(parts)

    def _on_cluster(self, locate, probes, analytic, step, eps, rule, tick) -> list[Estimates]:
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise ImportError("a Dask scheduler needs the 'cluster' extra: pip install -e '.[cluster]'") from None
        client = self.scheduler if isinstance(self.scheduler, Client) else \
            Client(self.scheduler, set_as_default=False)
        try:
            _loadable_there(client, partial(_work, self.target, locate))
            threads = max(1, sum(client.nthreads().values()))
            chunks = [c.tolist() for c in np.array_split(np.arange(len(probes)), 4 * threads) if len(c)]
            futures = [client.submit(_work, self.target, locate, [probes[i] for i in chunk], analytic, step, eps,
                                     rule, pure=False) for chunk in chunks]
            order = {f.key: i for i, f in enumerate(futures)}
            parts = [None] * len(chunks)
            for future in as_completed(futures, loop=client.loop):
                if future.status != "finished":
                    exc = future.exception()
                    raise ClusterFailed(f"the Dask workers at {client.scheduler.address} could not run the check: "
                                        f"{type(exc).__name__}: {exc}") from None
                parts[order[future.key]], calls = future.result()
                tick(calls)
            self.redone += sum(client.run_on_scheduler(_suspicious, keys=list(order)).values())
            return parts
        finally:
            if client is not self.scheduler:
                client.close()


def _loadable_there(client, work: Callable) -> None:
    """Every worker unpickles ``work`` (the layer's module and gradcheck imported there), or
    :class:`ClusterFailed` at once: a task that a worker cannot unpickle is only logged there, never run."""
    import cloudpickle

    try:
        client.run(pickle.loads, cloudpickle.dumps(work))
    except Exception as exc:  # noqa: BLE001 - whatever the workers raised while loading it
        raise ClusterFailed(f"the Dask workers at {client.scheduler.address} cannot load the check: "
                            f"{type(exc).__name__}: {exc}; they need the layer's module (and gradcheck) importable "
                            "there: installed, or its folder on their PYTHONPATH") from None


def _suspicious(keys: list, dask_scheduler=None) -> dict:
    """Runs on the scheduler: how often each task was on a worker that was lost while running it."""
    tasks = dask_scheduler.tasks
    return {k: tasks[k].suspicious for k in keys if k in tasks}
