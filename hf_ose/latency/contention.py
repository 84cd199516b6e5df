"""How busy the CPU is with other work, and how many threads latency is measured with because of it.

PyTorch (and ONNX Runtime, OpenVINO) splits each operation over its intra-op threads and waits for the slowest.
When another process holds one of two cores, a 2-thread forward pass waits on a thread that runs half the time,
and timings swing by 10x or more, unevenly between models; on the one free core a single thread times cleanly.
So before measuring, a search watches the CPUs it may run on for a moment (:func:`cpu_load`) and, unless
``LatencySettings.threads`` was set, measures with one thread fewer for each core other processes keep busy
(:func:`choose_threads`), saying so in a log line and in the front's latency record.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import psutil
import torch

from .settings import LatencySettings

logger = logging.getLogger(__name__)

#: How long the CPUs are watched before measuring, in seconds.
PROBE_SECONDS = 0.25
#: Cores' worth of other work taken as background (a shell, daemons): above it, each core's worth costs a thread.
BACKGROUND_CORES = 0.25


@dataclass(frozen=True)
class CpuLoad:
    """The CPUs this process may run on (``cores``) and how many cores' worth of them other processes used
    while watched (``others``, e.g. 1.0 for one busy-looping process)."""

    cores: int
    others: float

    @property
    def busy_cores(self) -> int:
        """Cores taken by other work: each core's worth above :data:`BACKGROUND_CORES`, rounded up."""
        return max(0, math.ceil(self.others - BACKGROUND_CORES))


def cpu_load(seconds: float = PROBE_SECONDS) -> CpuLoad:
    """Watch this process's CPUs for ``seconds`` (sleeping) and return the share other processes kept busy: all
    busy time on them (steal included: a hypervisor's other guests) less this process's own."""
    cpus = _allowed_cpus()
    process = psutil.Process()
    busy, own, started = _busy_seconds(cpus), _cpu_seconds(process), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    others = (_busy_seconds(cpus) - busy - (_cpu_seconds(process) - own)) / elapsed
    return CpuLoad(len(cpus), round(min(max(others, 0.0), float(len(cpus))), 2))


def _allowed_cpus() -> list[int]:
    """Indices of the CPUs this process may run on (every CPU where the OS has no affinity mask)."""
    count = psutil.cpu_count() or os.cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return sorted(cpu for cpu in os.sched_getaffinity(0) if cpu < count)
    return list(range(count))


def _busy_seconds(cpus: list[int]) -> float:
    """Seconds the CPUs ``cpus`` have spent not idle since boot (guest time is already in user time)."""
    times = psutil.cpu_times(percpu=True)
    total = 0.0
    for cpu in cpus:
        fields = times[cpu]._asdict()
        idle = fields["idle"] + fields.get("iowait", 0.0)
        total += sum(fields.values()) - idle - fields.get("guest", 0.0) - fields.get("guest_nice", 0.0)
    return total


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


@dataclass(frozen=True)
class ThreadChoice:
    """The threads latency is measured with (``threads``), out of ``default`` (the count asked for, or PyTorch's
    when none was), and why (``reason``): ``"as set"``, ``"idle"``, ``"busy"`` or ``"resumed"`` (the count a
    cached, interrupted search measured with). ``load`` is what :func:`cpu_load` saw (``None``: not watched)."""

    threads: int
    default: int
    reason: str
    load: CpuLoad | None = None

    @property
    def reduced(self) -> bool:
        return self.threads < self.default

    def message(self) -> str:
        """One line saying what was chosen and why."""
        if self.reason == "resumed":
            return (f"Latency is measured with {self.threads} thread(s), as the cached timings of an earlier run of "
                    "this search were, so they are reused.")
        load = self.load
        if self.reason == "busy" and load is not None:
            return (f"The CPU is busy: other processes used {load.others:.1f} of its {load.cores} cores, so latency "
                    f"is measured with {self.threads} thread(s) instead of {self.default} (a thread on a shared "
                    "core makes every timing wait on it). Speed-ups measured on a busy machine differed from an idle "
                    "machine's by 10-15% (either way) in benchmarks/busy_machine.py, so a budget may pick a "
                    "neighbouring point: re-time the point you choose on an idle machine (hf-ose bench). "
                    "Set --threads (LatencySettings.threads) to choose.")
        return f"Latency is measured with {self.threads} thread(s) ({self.reason})."

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "load": None if self.load is None else asdict(self.load)}


def choose_threads(
    settings: LatencySettings,
    *,
    load: Callable[[], CpuLoad] | None = None,
    measured_with: Callable[[int], bool] = lambda threads: False,
) -> ThreadChoice:
    """The threads to measure latency with under ``settings``.

    ``settings.threads`` when set (strict runs choose their own). Otherwise, out of PyTorch's count: the count
    an earlier run of the same search measured with, where ``measured_with(threads)`` says the cache holds
    timings taken with it (so a resumed search measures nothing again); else one thread fewer for each core
    ``load()`` (default :func:`cpu_load`) finds busy with other work, at least one. A reduced count is logged.
    """
    if settings.threads is not None:
        return ThreadChoice(settings.threads, settings.threads, "as set")
    default = torch.get_num_threads()
    for threads in range(default, 0, -1):
        if measured_with(threads):
            choice = ThreadChoice(threads, default, "resumed")
            if choice.reduced:
                logger.warning(choice.message())
            return choice
    seen = (load or cpu_load)()
    if not seen.busy_cores:
        return ThreadChoice(default, default, "idle", seen)
    choice = ThreadChoice(max(1, min(default, seen.cores - seen.busy_cores)), default, "busy", seen)
    if choice.reduced:
        logger.warning(choice.message())
    return choice
