"""Bort on paper: search the Bort grid over RoBERTa-large and pick the W-best variant.

Run: python examples/extract_bort.py [OUT_DIR]
Errors are data-free prior estimates (no weights or data): the search runs anywhere, offline, in minutes.
"""

import sys

from hf_ose import OSEExtractor
from hf_ose.front import format_front


def main(out: str = "bort-front") -> None:
    extractor = OSEExtractor("roberta-large", space="bort", epsilon=0.1, cache_dir=f"{out}/cache")
    print(extractor.abnc_report())
    front = extractor.extract()
    print(format_front(front))
    best = front.best("w")
    print(f"\nW-best config:\n{best.config.to_json_string()}")
    front.save_pretrained(f"{out}/configs")
    front.plot(f"{out}/front.png")


if __name__ == "__main__":
    main(*sys.argv[1:])
