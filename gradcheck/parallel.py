"""Perturbation groups in parallel worker processes, each with BLAS limited to one thread.

A check makes thousands of small forwards, which BLAS threads barely speed up; groups are independent, so
they are split over processes (joblib's loky backend). Each worker gets its own copy of the target (layer,
input, upstream error), so the caller's layer is never touched from a worker. Only worth its start-up
(about a second for fresh processes) on long checks: smaller ones stay serial. A target that cannot be copied
to a worker (pickled) is checked serially, and the report says so.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from gradcheck.numeric import Estimates, Probe, finite_differences

__all__ = ["Workers", "default_jobs", "input_of", "parameter_of", "PARALLEL_MIN_SECONDS"]

PARALLEL_MIN_SECONDS = 1.5      # expected serial time of one tensor's pass below which workers do not pay


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

    readout, calls = target.readout(), [0]

    def counted(magnitudes: bool = True, total: bool = False):
        calls[0] += 1
        return readout(magnitudes, total)

    with threadpool_limits(1):
        return finite_differences(locate(target), probes, counted, analytic, step, eps, **rule), calls[0]


def _merge(parts: list[Estimates]) -> Estimates:
    offsets = np.cumsum([0] + [len(p.numeric) for p in parts])
    skipped = {int(k) + int(off): reason for part, off in zip(parts, offsets) for k, reason in part.skipped.items()}
    cat = {name: np.concatenate([getattr(p, name) for p in parts])
           for name in ("analytic", "numeric", "coarse", "left", "right", "left_h", "right_h", "rounding", "one_sided",
                        "level", "noisy", "model", "half", "excess")}
    return Estimates(skipped=skipped, **cat)


class Workers:
    """Runs :func:`finite_differences` for chunks of probes in worker processes."""

    def __init__(self, jobs: int, target, seconds_per_forward: float, scheduler: object | None = None) -> None:
        self.jobs, self.target, self.per_forward = jobs, target, seconds_per_forward
        self.failure: str | None = None         # why the workers could not be used, if they could not
        self.used = False
        self.scheduler = scheduler              # a Dask scheduler's address (or a distributed.Client)

    def worth_it(self, groups: int) -> bool:
        if self.scheduler is not None:          # asked for by name: every full pass of more than a few groups
            return self.failure is None and groups >= 8
        return self.jobs > 1 and self.failure is None and 2 * groups * self.per_forward > PARALLEL_MIN_SECONDS

    def differences(self, locate: Callable, probes: Sequence[Probe], analytic: np.ndarray, step: float, eps: float,
                    rule: dict, tick: Callable[[int], None]) -> Estimates | None:
        """The estimates of all ``probes``, or None if the target could not be sent to the workers (or a
        worker raised: the serial pass then raises it here, with a plain traceback). ``tick(n)`` is told of
        the forwards each chunk took."""
        from joblib import Parallel, delayed

        try:
            with _cluster(self.scheduler) as workers:
                jobs = workers or self.jobs
                chunks = [list(c) for c in np.array_split(np.arange(len(probes)), 4 * jobs) if len(c)]
                run = Parallel(n_jobs=jobs, return_as="generator", **({} if workers else {"backend": "loky"}))
                parts = []
                for part, calls in run(delayed(_work)(self.target, locate, [probes[i] for i in chunk], analytic,
                                                      step, eps, rule) for chunk in chunks):
                    parts.append(part)
                    tick(calls)
        except Exception as exc:  # noqa: BLE001 - pickling a user's layer can fail in many ways: go serial
            self.failure = f"{type(exc).__name__}: {exc}"
            return None
        self.used = True
        return _merge(parts)


@contextmanager
def _cluster(scheduler: object | None) -> Iterator[int]:
    """With a Dask scheduler (an address, or a ``distributed.Client``): a client on it for the pass, and the
    number of worker threads it has (joblib's dask backend sends the chunks there; a chunk on a worker that
    dies is run again elsewhere). Without one: 0, and the local processes do the work."""
    if scheduler is None:
        yield 0
        return
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("a Dask scheduler needs the 'cluster' extra: pip install -e '.[cluster]'") from None
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler, set_as_default=False)
    try:
        from joblib import parallel_config

        with parallel_config(backend="dask", client=client):
            yield max(1, sum(client.nthreads().values()))
    finally:
        if client is not scheduler:
            client.close()
