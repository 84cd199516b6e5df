"""How long ``hf-ose --help`` and ``hf-ose SUB --help`` take, and ``import hf_ose``: the command line's startup.

Each is a fresh process (the installed ``hf-ose`` script, or ``python -c "import hf_ose"``), timed wall-clock
``--runs`` times; the table gives the median and the slowest. The target is under 1 s each: nothing heavy
(torch, transformers) loads before a subcommand runs.

Run: python benchmarks/cli_startup.py              (5 runs of each; about 30 s)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = ("extract", "inherit", "export", "bench", "finetune", "card", "push", "compress")


def _seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes timed per command (default 5)")
    runs = parser.parse_args().runs
    script = shutil.which("hf-ose", path=str(Path(sys.executable).parent)) or shutil.which("hf-ose")
    if script is None:
        sys.exit("hf-ose is not installed in this environment: pip install -e .")
    cases = {"import hf_ose": [sys.executable, "-c", "import hf_ose"], "hf-ose --help": [script, "--help"],
             **{f"hf-ose {name} --help": [script, name, "--help"] for name in COMMANDS}}
    from hf_ose.latency import cpu_description

    print(f"CPU: {cpu_description()}; {runs} fresh processes per command")
    print(f"{'command':<28}{'median s':>10}{'max s':>8}")
    for label, argv in cases.items():
        times = [_seconds(argv) for _ in range(runs)]
        print(f"{label:<28}{statistics.median(times):>10.2f}{max(times):>8.2f}")


if __name__ == "__main__":
    main()
