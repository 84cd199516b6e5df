"""What a latency figure depends on: the settings, the runtime that runs the model, and the machine.

Runtimes are found by name: PyTorch in the core, others (ONNX Runtime, OpenVINO) from integrations, which
register theirs through the Python entry-point group :data:`ENTRY_POINT_GROUP` (name = runtime name, value = a
:class:`LatencyRuntime` subclass or instance), so the core never imports them; :func:`register_runtime` does the
same from code. Each runtime that times an exported artifact is declared once, in :data:`RUNTIME_SPECS`.
"""

from __future__ import annotations

import os
import platform
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch

from ..exceptions import HfOseError
from ..plugins import PluginRegistry

if TYPE_CHECKING:
    from transformers import PretrainedConfig

ENTRY_POINT_GROUP = "hf_ose.latency_runtimes"
#: Share of the memory available at measurement time that one measured model may use by default.
DEFAULT_MEMORY_FRACTION = 0.25
#: The settings a single latency figure depends on (the rest steer checks and memory, not the figure).
MEASUREMENT_FIELDS: tuple[str, ...] = ("batch_size", "seq_len", "threads", "runtime", "warmup", "repeats", "rounds")
NOISE_POLICIES: tuple[str, ...] = ("raise", "warn")


@dataclass(frozen=True)
class RuntimeSpec:
    """A runtime that times an exported artifact: its name, what it is, the export backend and precision that
    write the artifact, and how to install its packages."""

    name: str
    label: str
    backend: str
    precision: str
    install_hint: str


#: Every runtime integrations provide, by name: the one place each is declared.
RUNTIME_SPECS: dict[str, RuntimeSpec] = {spec.name: spec for spec in (
    RuntimeSpec("onnxruntime", "ONNX Runtime, fp32", "onnx", "fp32", "pip install 'hf-ose[onnx]'"),
    RuntimeSpec("onnxruntime-int8", "ONNX Runtime, dynamic int8", "onnx", "int8", "pip install 'hf-ose[onnx]'"),
    RuntimeSpec("openvino", "OpenVINO, fp32", "openvino", "fp32", "pip install 'hf-ose[openvino]'"),
    RuntimeSpec("openvino-int8", "OpenVINO, NNCF int8", "openvino", "int8", "pip install 'hf-ose[openvino]'"),
)}
#: The int8 runtimes, in declaration order.
INT8_RUNTIMES: tuple[str, ...] = tuple(name for name, spec in RUNTIME_SPECS.items() if spec.precision == "int8")
#: Runtimes the core ships, as "module:attribute" (loaded on first use, like entry points).
_BUILTIN: dict[str, str] = {"pytorch": "hf_ose.latency.timing:PyTorchRuntime"}
#: Runtimes other packages provide: name -> (what it is, how to install it).
KNOWN_EXTERNAL: dict[str, tuple[str, str]] = {name: (s.label, s.install_hint) for name, s in RUNTIME_SPECS.items()}


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


class RuntimeNotAvailableError(HfOseError, ValueError):
    """No runtime of that name is registered, or its packages are not installed."""


class LatencyRuntime(ABC):
    """Runs a model for timing. Subclasses set :attr:`name` and implement :meth:`session`."""

    #: The name :class:`LatencySettings` selects the runtime by.
    name: ClassVar[str]
    #: How to install what :meth:`available` needs (shown when it is missing).
    install_hint: ClassVar[str] = ""

    def available(self) -> bool:
        """Whether the packages this runtime needs are importable."""
        return True

    def versions(self) -> dict[str, str]:
        """Versions of the packages beyond torch that this runtime's timings depend on (cache keys cover them)."""
        return {}

    @abstractmethod
    def session(
        self, config: PretrainedConfig, settings: LatencySettings
    ) -> AbstractContextManager[Callable[[], object]]:
        """A context that builds ``config``'s base model (random weights, ``settings``' input shape and
        threads) and yields one forward pass on fixed inputs; the model is freed on exit."""


#: Every latency runtime by name: built in, registered from code, or from the entry-point group.
RUNTIMES: PluginRegistry[LatencyRuntime] = PluginRegistry(
    kind="latency runtime", base=LatencyRuntime, group=ENTRY_POINT_GROUP, error=RuntimeNotAvailableError,
    register_call="hf_ose.register_runtime", builtin=_BUILTIN, known_external=KNOWN_EXTERNAL,
)
#: Make a runtime (an instance, or a class built without arguments) available under its name.
register_runtime = RUNTIMES.register
#: Every runtime name that can be selected (registered, built in, or offered by an installed entry point).
runtime_names = RUNTIMES.names
#: Raise :class:`RuntimeNotAvailableError` naming the fix unless the name is a selectable runtime.
check_runtime_name = RUNTIMES.check_name
#: The runtime of that name: registered, built in, or loaded from its entry point on first use.
get_runtime = RUNTIMES.get


@dataclass(frozen=True)
class LatencySettings:
    """How latency is measured and checked.

    Input shape ``batch_size`` x ``seq_len``; CPU ``threads`` (``None``: PyTorch's current count, or in a search
    one fewer for each core other processes keep busy, see :mod:`hf_ose.latency.contention`); the ``runtime``
    (see :func:`runtime_names`). Each model is timed in ``rounds`` interleaved rounds (every sampled model once
    per round, so a burst of load hits all alike); each round builds the model, runs ``warmup`` untimed passes
    and ``repeats`` timed ones and keeps their median; the model's latency is the lower quartile of its rounds.

    When the predictor's held-out error (mean, or the parent's own) stays above ``max_held_out_error`` after
    outliers are re-measured, the search warns, says so in the front's record and printout, and goes on
    (``on_noise="warn"``, the default: users' machines are busy), or stops with
    :class:`~hf_ose.latency.model.LatencyNoiseError` (``"raise"``, for strict runs). ``memory_budget_gb`` caps the memory of one
    measured model (``None``: a quarter of the memory available when measuring); deeper models that do not fit
    are timed at depths 1 and 2 and extended linearly in depth (the AB^nC way).
    """

    batch_size: int = 1
    seq_len: int = 128
    threads: int | None = None
    runtime: str = "pytorch"
    warmup: int = 1
    repeats: int = 3
    rounds: int = 3
    max_held_out_error: float = 0.25
    on_noise: str = "warn"
    memory_budget_gb: float | None = None

    _POSITIVE: ClassVar[tuple[str, ...]] = ("batch_size", "seq_len", "repeats", "rounds")

    def __post_init__(self) -> None:
        for name in self._POSITIVE:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"LatencySettings.{name} must be an integer >= 1, got {value!r}.")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(
                f"LatencySettings.threads must be an integer >= 1 or None (PyTorch's current count), "
                f"got {self.threads!r}."
            )
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"LatencySettings.warmup must be an integer >= 0, got {self.warmup!r}.")
        if not isinstance(self.max_held_out_error, (int, float)) or not self.max_held_out_error > 0:
            raise ValueError(
                f"LatencySettings.max_held_out_error must be a positive fraction (0.25 = 25%), "
                f"got {self.max_held_out_error!r}."
            )
        if self.on_noise not in NOISE_POLICIES:
            raise ValueError(f"LatencySettings.on_noise must be one of {list(NOISE_POLICIES)}, got {self.on_noise!r}.")
        if self.memory_budget_gb is not None and not (
            isinstance(self.memory_budget_gb, (int, float)) and self.memory_budget_gb > 0
        ):
            raise ValueError(
                f"LatencySettings.memory_budget_gb must be a positive number of gigabytes or None (a quarter "
                f"of the available memory), got {self.memory_budget_gb!r}."
            )
        check_runtime_name(self.runtime)

    def resolved(self) -> "LatencySettings":
        """These settings with ``threads`` filled in from ``torch.get_num_threads()`` where unset."""
        return self if self.threads is not None else replace(self, threads=torch.get_num_threads())

    def fingerprint(self) -> dict[str, Any]:
        """Everything a latency figure depends on, for cache keys: the measurement settings (resolved), CPU,
        torch version and the runtime's own package versions (if it has any)."""
        settings = asdict(self.resolved())
        fingerprint = {**{k: settings[k] for k in MEASUREMENT_FIELDS}, "cpu": cpu_description(),
                       "torch": torch.__version__}
        versions = get_runtime(self.runtime).versions()
        return {**fingerprint, "runtime_versions": versions} if versions else fingerprint

    def memory_budget_bytes(self) -> int:
        """The most memory one measured model may take, in bytes."""
        if self.memory_budget_gb is not None:
            return int(self.memory_budget_gb * 1e9)
        return int(DEFAULT_MEMORY_FRACTION * available_memory_bytes())
