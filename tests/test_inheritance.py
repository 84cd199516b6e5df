"""Weight inheritance: identity, layer dropping, head combining, save/load, export, and the width cut measured
on a real pretrained parent."""

from __future__ import annotations

import copy
import csv
import functools
from pathlib import Path

import pytest
import torch
import transformers as T

from hf_ose import ParetoPoint
from hf_ose.adapters import get_adapter
from hf_ose.architecture import Architecture
from hf_ose.distillation import DistillationLoss
from hf_ose.exceptions import ParentNotFoundError
from hf_ose.inheritance import InheritanceError, UnsupportedFamilyError, extract_model, plan_inheritance
from hf_ose.inheritance.families import find_layers, get_layout

from .families import FAMILY_CONFIGS, INHERITABLE, TINY
from .testing_utils import slow

CONFIGS = {family: functools.partial(FAMILY_CONFIGS[family], **TINY) for family in INHERITABLE}

HEADED = [
    ("bert", T.BertForSequenceClassification),
    ("bert", T.BertForMaskedLM),
    ("roberta", T.RobertaForMaskedLM),
    ("electra", T.ElectraForMaskedLM),
    ("distilbert", T.DistilBertForSequenceClassification),
    ("gpt2", T.GPT2LMHeadModel),
    ("llama", T.LlamaForCausalLM),
]


def build(family: str, cls: type = T.AutoModel, seed: int = 0) -> T.PreTrainedModel:
    torch.manual_seed(seed)
    config = CONFIGS[family]()
    model = cls.from_config(config) if cls.__name__.startswith("Auto") else cls(config)
    return model.eval()


def inputs(seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 101, (3, 9), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 4:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def output(model: T.PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        out = model(**batch)
    return out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state


def variant(model: T.PreTrainedModel, **changes: int) -> T.PretrainedConfig:
    adapter = get_adapter(model.config)
    arch = adapter.read(model.config)
    return adapter.write(model.config, Architecture(**{**arch.as_dict(), **changes}))


# ---- identity and layer dropping ----------------------------------------------------------------------------
@pytest.mark.parametrize("family", CONFIGS)
@pytest.mark.parametrize("calibrated", [False, True], ids=["data-free", "calibrated"])
def test_parent_config_reproduces_parent(family: str, calibrated: bool) -> None:
    parent = build(family)
    student = extract_model(parent, parent.config, inputs(2) if calibrated else None).eval()
    assert type(student) is type(parent)
    torch.testing.assert_close(output(student, inputs()), output(parent, inputs()), atol=1e-5, rtol=0)


@pytest.mark.parametrize(("family", "cls"), HEADED, ids=[c.__name__ for _, c in HEADED])
def test_parent_config_reproduces_task_heads(family: str, cls: type) -> None:
    parent = build(family, cls)
    student = extract_model(parent, parent.config).eval()
    assert type(student) is cls
    torch.testing.assert_close(output(student, inputs()), output(parent, inputs()), atol=1e-5, rtol=0)


TASK_HEADS = [
    ("bert", T.BertForTokenClassification, T.AutoModelForTokenClassification),
    ("roberta", T.RobertaForTokenClassification, T.AutoModelForTokenClassification),
    ("distilbert", T.DistilBertForTokenClassification, T.AutoModelForTokenClassification),
    ("llama", T.LlamaForTokenClassification, T.AutoModelForTokenClassification),
    ("bert", T.BertForSequenceClassification, T.AutoModelForSequenceClassification),
    ("gpt2", T.GPT2ForSequenceClassification, T.AutoModelForSequenceClassification),
]


@pytest.mark.parametrize(("family", "cls", "auto"), TASK_HEADS, ids=[f"{c.__name__}" for _, c, _ in TASK_HEADS])
def test_token_and_regression_heads_survive_extraction(family: str, cls: type, auto: type, tmp_path: Path) -> None:
    """A fine-tuned tagger keeps its tags and a one-output regressor its problem type, through the parent's own
    config (exactly) and a cut in every dimension (saved and loaded by the auto class)."""
    torch.manual_seed(0)
    tagger = cls.__name__.endswith("TokenClassification")
    head = ({"num_labels": 5, "id2label": dict(enumerate(["O", "B-person", "I-person", "B-location", "I-location"]))}
            if tagger else {"num_labels": 1, "problem_type": "regression"})
    parent = cls(CONFIGS[family](**head)).eval()
    same = extract_model(parent, parent.config).eval()
    torch.testing.assert_close(output(same, inputs()), output(parent, inputs()), atol=1e-5, rtol=0)
    rotary = {"hidden": 16, "kv_heads": 1} if family == "llama" else {}  # rotary heads keep their width
    cut = {"depth": 2, "hidden": 24, "heads": 2, "intermediate": 40, **rotary}
    student = extract_model(parent, variant(parent, **cut), inputs(2)).eval()
    student.save_pretrained(tmp_path)
    loaded = auto.from_pretrained(tmp_path).eval()
    assert type(loaded) is cls
    logits = output(loaded, inputs())
    assert logits.shape == (3, 9, 5) if tagger else logits.shape == (3, 1)
    if tagger:
        assert loaded.config.id2label == parent.config.id2label
    else:
        assert loaded.config.problem_type == "regression"
        loss = loaded(**inputs(), labels=torch.tensor([0.5, 2.0, 4.5])).loss
        torch.testing.assert_close(loss, torch.nn.functional.mse_loss(logits[:, 0], torch.tensor([0.5, 2.0, 4.5])))


@pytest.mark.parametrize("family", CONFIGS)
def test_depth_only_reduction_equals_dropping_layers(family: str) -> None:
    parent = build(family, T.AutoModelForSequenceClassification)
    student = extract_model(parent, variant(parent, depth=2)).eval()
    kept = plan_inheritance(parent, variant(parent, depth=2)).layers
    assert kept == [0, 3]  # evenly spaced, first and last kept
    dropped = copy.deepcopy(parent)
    owner, _, attr = find_layers(dropped, get_layout(dropped.config)).rpartition(".")
    holder = dropped.get_submodule(owner)
    setattr(holder, attr, torch.nn.ModuleList([getattr(holder, attr)[i] for i in kept]))
    dropped.config.num_hidden_layers = 2
    dropped.config.use_cache = False  # the kept layers still carry their parent's cache index
    torch.testing.assert_close(output(student, inputs()), output(dropped, inputs()), atol=1e-5, rtol=0)


def test_importance_layer_selection_follows_calibration() -> None:
    parent = build("bert")
    plan = plan_inheritance(parent, variant(parent, depth=2), inputs(2), layer_selection="importance")
    assert len(plan.layers) == 2 and plan.layers == sorted(set(plan.layers))
    with pytest.raises(InheritanceError, match="needs calibration_data"):
        plan_inheritance(parent, variant(parent, depth=2), layer_selection="importance")


# ---- heads ---------------------------------------------------------------------------------------------------
def test_wider_student_heads_average_identical_parent_heads() -> None:
    """Combining two parent heads that attend alike reproduces them exactly (logits averaged, values kept)."""
    parent = build("bert")
    with torch.no_grad():
        for layer in parent.encoder.layer:
            for proj in (layer.attention.self.query, layer.attention.self.key):
                w, b = proj.weight.view(4, 8, 32), proj.bias.view(4, 8)
                w[1], w[3], b[1], b[3] = w[0], w[2], b[0], b[2]
    student = extract_model(parent, variant(parent, heads=2)).eval()
    assert student.config.num_attention_heads == 2
    torch.testing.assert_close(output(student, inputs()), output(parent, inputs()), atol=1e-5, rtol=0)


def test_narrower_rotary_heads_keep_their_frequencies() -> None:
    """Llama heads cut from 8 to 4 dims keep rotary pairs 0 and 2, which rotate at the student's frequencies:
    with the other pairs unused by the parent, the student is exact."""
    parent = build("llama")
    unused = torch.tensor([1, 3, 5, 7])  # pairs (1, 5) and (3, 7) of each head
    with torch.no_grad():
        for layer in parent.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.weight.view(-1, 8, 32)[:, unused] = 0
    config = copy.deepcopy(parent.config)
    config.head_dim = 4
    student = extract_model(parent, config).eval()
    torch.testing.assert_close(output(student, inputs()), output(parent, inputs()), atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", CONFIGS)
def test_every_family_cuts_every_dimension(family: str) -> None:
    parent = build(family, T.AutoModelForSequenceClassification)
    arch = get_adapter(parent.config).read(parent.config)
    small = dict(depth=3, hidden=16, intermediate=24, heads=2)
    if arch.kv_heads:
        small.update(kv_heads=1)
    config = variant(parent, **small)
    for calibration in (None, inputs(2)):
        student = extract_model(parent, config, calibration).eval()
        assert get_adapter(student.config).read(student.config) == get_adapter(config).read(config)
        assert torch.isfinite(output(student, inputs())).all()


def test_extraction_is_deterministic_and_keeps_tied_weights() -> None:
    parent = build("bert", T.BertForMaskedLM)
    config = variant(parent, hidden=16, heads=2, intermediate=32)
    first, second = (extract_model(parent, config, inputs(2)) for _ in range(2))
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    assert first.cls.predictions.decoder.weight is first.bert.embeddings.word_embeddings.weight


# ---- save, load, export --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("family", "cls", "auto"),
    [
        ("bert", T.BertForMaskedLM, T.AutoModelForMaskedLM),
        ("electra", T.ElectraModel, T.AutoModel),
        ("gpt2", T.GPT2LMHeadModel, T.AutoModelForCausalLM),
        ("llama", T.LlamaForCausalLM, T.AutoModelForCausalLM),
    ],
)
def test_student_saves_and_loads_with_stock_transformers(family: str, cls: type, auto: type, tmp_path: Path) -> None:
    parent = build(family, cls)
    arch = get_adapter(parent.config).read(parent.config)
    changes = dict(depth=2, hidden=24, heads=3, intermediate=40)
    if arch.kv_heads:
        changes.update(kv_heads=1)
    student = extract_model(parent, variant(parent, **changes), inputs(2)).eval()
    student.save_pretrained(tmp_path)
    loaded = auto.from_pretrained(tmp_path).eval()
    assert type(loaded) is cls
    torch.testing.assert_close(output(loaded, inputs()), output(student, inputs()), atol=0, rtol=0)


@slow
def test_student_exports_to_onnx_with_the_dynamo_exporter(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")
    parent = build("bert", T.BertForSequenceClassification)
    student = extract_model(parent, variant(parent, depth=2, hidden=16, heads=2, intermediate=32)).eval()
    batch = inputs()
    program = torch.onnx.export(
        student, (), kwargs=batch, f=str(tmp_path / "student.onnx"), dynamo=True, input_names=list(batch), output_names=["logits"]
    )
    assert program is not None and (tmp_path / "student.onnx").stat().st_size > 0


# ---- bad input -----------------------------------------------------------------------------------------------
def test_variant_of_another_family_is_refused() -> None:
    with pytest.raises(InheritanceError, match="only be inherited within one family"):
        extract_model(build("bert"), CONFIGS["gpt2"]())


@pytest.mark.parametrize("change", [dict(depth=5), dict(hidden=48, heads=4), dict(intermediate=128)])
def test_variant_larger_than_parent_is_refused(change: dict[str, int]) -> None:
    parent = build("bert")
    with pytest.raises(InheritanceError, match="larger than the parent"):
        extract_model(parent, variant(parent, **change))


def test_unsupported_family_is_refused_naming_the_supported_ones() -> None:
    torch.manual_seed(0)
    parent = T.AutoModel.from_config(FAMILY_CONFIGS["mpnet"](**TINY))
    with pytest.raises(UnsupportedFamilyError, match=r"not supported yet .*BERT.*GPT-2.*Llama.*register_family"):
        extract_model(parent, parent.config)


# ---- what extract_model accepts ------------------------------------------------------------------------------
def test_variant_may_be_a_pareto_point_or_a_config_folder(tmp_path: Path) -> None:
    parent = build("bert", T.BertForSequenceClassification)
    config = variant(parent, depth=2, hidden=16, heads=2, intermediate=32)
    expected = output(extract_model(parent, config).eval(), inputs())
    point = ParetoPoint(config=config, architecture=get_adapter(config).read(config), params=1, effective_params=1,
                        flops=1, latency_ms=1.0, error=1.0, latency_source="measured", error_source="prior: test")
    config.save_pretrained(tmp_path)
    for spec in (point, tmp_path, str(tmp_path)):
        torch.testing.assert_close(output(extract_model(parent, spec).eval(), inputs()), expected, atol=0, rtol=0)


def test_parent_may_be_a_model_folder(tmp_path: Path) -> None:
    parent = build("bert", T.BertForSequenceClassification)
    parent.save_pretrained(tmp_path)
    config = variant(parent, depth=2, intermediate=32)
    student = extract_model(tmp_path, config).eval()
    assert type(student) is T.BertForSequenceClassification  # the class the folder's config names
    expected = extract_model(parent, config).eval()
    torch.testing.assert_close(output(student, inputs()), output(expected, inputs()), atol=0, rtol=0)


def test_a_config_where_the_parent_model_is_expected_is_refused() -> None:
    parent = build("bert")
    with pytest.raises(InheritanceError, match=r"needs the parent model with its weights.*AutoModel.from_pretrained"):
        extract_model(parent.config, variant(parent, depth=2))
    with pytest.raises(InheritanceError, match=r"model \(BertModel\) where a config is expected.*model.config"):
        extract_model(parent, build("bert"))


def test_folders_without_what_is_needed_are_refused(tmp_path: Path) -> None:
    parent = build("bert")
    with pytest.raises(InheritanceError, match="not a folder holding config.json"):
        extract_model(parent, tmp_path)
    parent.config.save_pretrained(tmp_path)  # a config folder has no weights to inherit
    with pytest.raises(ParentNotFoundError, match="Cannot load the weights"):
        extract_model(tmp_path, parent.config)


def test_rotary_heads_cannot_be_combined() -> None:
    parent = build("llama")
    config = copy.deepcopy(parent.config)
    config.num_attention_heads, config.num_key_value_heads, config.head_dim = 2, 1, 16
    with pytest.raises(InheritanceError, match="rotary family cannot combine"):
        extract_model(parent, config)


def test_malformed_calibration_data_is_refused() -> None:
    parent = build("bert")
    with pytest.raises(InheritanceError, match="calibration_data must be"):
        extract_model(parent, parent.config, [torch.ones(2, 3)])


# ---- the width cut on a real parent --------------------------------------------------------------------------
def _sentences(path: Path, count: int) -> list[str]:
    with path.open(newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row["sentence"] for _, row in zip(range(count), rows)]


@pytest.fixture(scope="module")
def real_setup(minilm_path: Path, sst2_dir: Path):
    tokenizer = T.AutoTokenizer.from_pretrained(minilm_path)
    parent = T.AutoModel.from_pretrained(minilm_path).eval()
    encode = dict(padding=True, truncation=True, max_length=64, return_tensors="pt")
    train = _sentences(sst2_dir / "train.tsv", 128)
    calibration = [tokenizer(train[i : i + 32], **encode) for i in range(0, 128, 32)]
    held_out = tokenizer(_sentences(sst2_dir / "validation.tsv", 64), **encode)
    return parent, calibration, held_out


def _step0_loss(student: T.PreTrainedModel, parent: T.PreTrainedModel, batch) -> float:
    with torch.no_grad():
        s = student.eval()(**batch, output_hidden_states=True)
        p = parent(**batch, output_hidden_states=True)
    return float(DistillationLoss()(s, p, batch["attention_mask"]))


@slow
@pytest.mark.parametrize(
    "shape",
    [(6, 12, 288, 768), (4, 6, 288, 1152), (6, 12, 192, 1536), (3, 6, 192, 384)],
    ids=lambda s: "D{}-A{}-H{}-I{}".format(*s),
)
def test_width_cut_starts_far_closer_than_random_init(real_setup, shape: tuple[int, int, int, int]) -> None:
    """Measured on all-MiniLM-L6-v2 (inherited / random step-0 loss), see hf_ose.inheritance.compensation."""
    parent, calibration, held_out = real_setup
    config = variant(parent, **dict(zip(("depth", "heads", "hidden", "intermediate"), shape)))
    torch.manual_seed(0)
    random_loss = _step0_loss(T.AutoModel.from_config(config), parent, held_out)
    calibrated = _step0_loss(extract_model(parent, config, calibration), parent, held_out)
    data_free = _step0_loss(extract_model(parent, config), parent, held_out)
    assert calibrated < 0.5 * random_loss
    assert data_free < 0.5 * random_loss
