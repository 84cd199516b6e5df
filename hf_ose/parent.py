"""Resolve the parent: a config, a model, a local folder, a built-in preset or a Hub id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Union

import transformers
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
    config = load_parent_config(parent)
    named = (getattr(config, "architectures", None) or [None])[0]
    model_class = getattr(transformers, named, None) if named else None
    try:
        return (model_class or AutoModel).from_pretrained(parent)
    except OSError as error:
        raise ParentNotFoundError(f"Cannot load the weights of {parent!r}: {str(error).splitlines()[0]}") from error


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
            f"config.json, or one of the built-in presets: {', '.join(PRESETS)}."
        ) from error
