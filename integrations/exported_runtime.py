"""Latency runtimes that time a candidate as it ships: exported by an export backend, then run by its runtime.

Each session builds the candidate's random-weight base model, exports it into a temporary folder through the
same backend code :func:`hf_ose.export.export` uses (so the timed graph is the deployed one: fusions and int8
included), opens it with ``settings.threads`` threads, and yields one forward pass on fixed inputs of
``settings``' shape; the folder is removed on exit. A search times each sampled candidate in several rounds,
each opening a fresh session, so the exported files of recent candidates are kept in memory
(:class:`ArtifactCache`) and a round re-exports nothing: the export is deterministic for a config, only the
session is rebuilt.

No tokenizer exists for a random-weight candidate: :func:`synthetic_tokenizer` is a word-level tokenizer over
the config's vocabulary (``"t0"``, ``"t1"``, ...), which the backends call like any other; random token ids
time the same as real text.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import importlib.util
import tempfile
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from hf_ose.objectives.latency import random_model
from hf_ose.objectives.runtimes import LatencyRuntime
from hf_ose.torch_context import torch_threads

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerFast

    from hf_ose.export import ExportBackend
    from hf_ose.objectives.latency import LatencySettings

#: Synthetic calibration texts per export and their longest length in tokens (OpenVINO int8 calibrates on them,
#: dynamic int8 ignores them). The quantised graph, and so its speed, does not depend on them; NNCF's cost does
#: (16 texts of up to 128 tokens took minutes on RoBERTa-large), so they are few and short.
CALIBRATION_TEXTS = 4
CALIBRATION_LENGTH = 16
#: Bytes of exported files kept in memory per runtime, most recently used first.
CACHE_BYTES = 4 << 30


@dataclass
class RuntimeForward:
    """One forward pass of an opened artifact (call it: the main output as numpy), the folder it was opened
    from and the intra-op thread count the runtime reports it uses."""

    run: Callable[[], object]
    folder: Path
    threads: int

    def __call__(self) -> object:
        return self.run()


class ArtifactCache:
    """Exported files (name -> bytes) by key, at most ``max_bytes`` in all; the least recently used go first."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._files: OrderedDict[str, dict[str, bytes]] = OrderedDict()

    @property
    def size(self) -> int:
        return sum(len(data) for files in self._files.values() for data in files.values())

    def get(self, key: str) -> dict[str, bytes] | None:
        files = self._files.get(key)
        if files is not None:
            self._files.move_to_end(key)
        return files

    def put(self, key: str, files: dict[str, bytes]) -> None:
        """Keep ``files`` unless they alone exceed the cap, dropping the least recently used to make room."""
        if sum(map(len, files.values())) > self.max_bytes:
            return
        self._files[key] = files
        self._files.move_to_end(key)
        while self.size > self.max_bytes:
            self._files.popitem(last=False)

    def clear(self) -> None:
        self._files.clear()


class ExportedRuntime(LatencyRuntime):
    """Times the artifact :meth:`backend` exports at :attr:`precision`. Subclasses set ``name``,
    :attr:`packages` and :attr:`precision` and implement :meth:`backend` and :meth:`open`."""

    #: Modules that must be importable for :meth:`available`.
    packages: ClassVar[tuple[str, ...]]
    #: The export precision (``"fp32"`` or ``"int8"``).
    precision: ClassVar[str]

    def __init__(self) -> None:
        self.cache = ArtifactCache()

    def available(self) -> bool:
        return all(importlib.util.find_spec(package) is not None for package in self.packages)

    def versions(self) -> dict[str, str]:
        return {package: importlib.metadata.version(package) for package in self.packages}

    @abstractmethod
    def backend(self) -> ExportBackend:
        """The export backend that writes this runtime's artifact."""

    @abstractmethod
    def open(self, folder: Path, threads: int, inputs: dict[str, np.ndarray]) -> RuntimeForward:
        """Open the artifact in ``folder`` with ``threads`` intra-op threads; the forward feeds ``inputs``."""

    @contextmanager
    def session(self, config: PretrainedConfig, settings: LatencySettings) -> Iterator[RuntimeForward]:
        settings = settings.resolved()
        with tempfile.TemporaryDirectory(prefix=f"hf-ose-{self.name}-") as folder:
            self.materialise(config, settings, Path(folder))
            forward = self.open(Path(folder), settings.threads, fixed_inputs(config, settings))
            try:
                yield forward
            finally:
                del forward
                gc.collect()

    def materialise(self, config: PretrainedConfig, settings: LatencySettings, folder: Path) -> list[Path]:
        """Write ``config``'s artifact into ``folder``: from the cache, or exported from a random-weight model."""
        key = _cache_key(config, settings, self.precision)
        cached = self.cache.get(key)
        if cached is not None:
            for name, data in cached.items():
                (folder / name).write_bytes(data)
            return [folder / name for name in cached]
        shape = (settings.batch_size, settings.seq_len)
        model = random_model(config, max_bytes=settings.memory_budget_bytes(), input_shape=shape)
        try:
            with torch_threads(settings.threads):
                files = self.backend().export(model, synthetic_tokenizer(config), folder, precision=self.precision,
                                              calibration=calibration_texts(config, settings))
        finally:
            del model
            gc.collect()
        self.cache.put(key, {path.name: path.read_bytes() for path in files})
        return files


def synthetic_tokenizer(config: PretrainedConfig) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose words ``"t<id>"`` are ``config``'s token ids (padding with its pad id, 0
    where it has none), producing ``token_type_ids`` when the model has more than one token type."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = {f"t{i}": i for i in range(config.vocab_size)}
    words = Tokenizer(models.WordLevel(vocabulary, unk_token="t0"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    pad = getattr(config, "pad_token_id", None) or 0
    names = ["input_ids", "attention_mask"]
    if (getattr(config, "type_vocab_size", 0) or 0) > 1:
        names.insert(1, "token_type_ids")
    return PreTrainedTokenizerFast(tokenizer_object=words, pad_token=f"t{pad}", unk_token="t0",
                                   model_input_names=names)


def calibration_texts(config: PretrainedConfig, settings: LatencySettings) -> list[str]:
    """:data:`CALIBRATION_TEXTS` texts of random token ids (words of :func:`synthetic_tokenizer`), of lengths
    from half of :data:`CALIBRATION_LENGTH` (or the sequence length, if shorter) to all of it; fixed for a config
    and settings."""
    rng = np.random.default_rng(0)
    longest = min(settings.seq_len, CALIBRATION_LENGTH)
    lengths = rng.integers(max(1, longest // 2), longest + 1, CALIBRATION_TEXTS)
    return [" ".join(f"t{i}" for i in rng.integers(0, config.vocab_size, n)) for n in lengths]


def fixed_inputs(config: PretrainedConfig, settings: LatencySettings) -> dict[str, np.ndarray]:
    """The timed inputs, as PyTorch's runtime feeds them: random token ids (seed 0), an all-ones attention mask,
    zero token types; int64, ``settings.batch_size`` x ``settings.seq_len``."""
    shape = (settings.batch_size, settings.seq_len)
    ids = torch.randint(0, config.vocab_size, shape, generator=torch.Generator().manual_seed(0)).numpy()
    return {"input_ids": ids, "attention_mask": np.ones(shape, dtype=np.int64),
            "token_type_ids": np.zeros(shape, dtype=np.int64)}


def _cache_key(config: PretrainedConfig, settings: LatencySettings, precision: str) -> str:
    """The artifact's identity: the config, the precision and the shape its calibration used."""
    text = f"{config.to_json_string(use_diff=False)}|{precision}|{settings.batch_size}x{settings.seq_len}"
    return hashlib.sha256(text.encode()).hexdigest()
