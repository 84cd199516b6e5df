"""The machine latency is measured on: a one-line CPU description, and the memory a measurement may use."""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

#: ISA features that change inference speed, as /proc/cpuinfo names them (in the order printed).
SPEED_FEATURES: tuple[str, ...] = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx")
_AMX_FLAGS = ("amx_tile", "amx_bf16", "amx_int8")


def _cpuinfo() -> tuple[str | None, set[str]]:
    """(model name, flag set) from /proc/cpuinfo; (None, empty set) where it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, set()
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def _core_count() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@lru_cache(maxsize=1)
def cpu_description() -> str:
    """CPU model, core count and speed-relevant ISA features, e.g.
    ``"Intel(R) Xeon(R) Processor (2 cores; avx2 avx512f avx512_vnni amx)"``."""
    model, flags = _cpuinfo()
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    present = [f for f in SPEED_FEATURES if f in flags or (f == "amx" and any(a in flags for a in _AMX_FLAGS))]
    features = "; " + " ".join(present) if present else ""
    return f"{model} ({_core_count()} cores{features})"


def _meminfo_available() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes; ``None`` where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_headroom() -> int | None:
    """Bytes left under this process's cgroup v2 memory limit; ``None`` where there is no limit."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()), 0)
    except (OSError, ValueError):
        return None


def available_memory_bytes() -> int:
    """Memory this process can still allocate without swapping: the system's available memory, capped by a
    container's memory limit where one is set."""
    system = _meminfo_available()
    if system is None:  # not Linux: psutil comes with accelerate, a dependency
        import psutil

        system = int(psutil.virtual_memory().available)
    headroom = _cgroup_headroom()
    return system if headroom is None else min(system, headroom)
