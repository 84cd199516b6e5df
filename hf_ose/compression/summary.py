"""The table ``hf-ose compress`` ends with: size, latency per runtime, accuracy and agreement, against the
parent and the teacher."""

from __future__ import annotations

from typing import Any


def format_summary(summary: dict[str, Any]) -> str:
    """``summary`` (``compress_report.json``'s) as a terminal table."""
    parent_ms, teacher = summary["parent_ms"], summary["teacher_accuracy"]
    rows = [("parent / teacher (PyTorch fp32)", parent_ms, teacher, None),
            (f"student {summary['architecture']} (PyTorch fp32)", summary["student_ms"], summary["student_accuracy"],
             None)]
    rows += [(f"student {runtime}{' *' if runtime == summary['runtime'] else ''}", ms,
              summary["artifact_accuracy"][runtime], summary["artifact_agreement"][runtime])
             for runtime, ms in summary["artifact_ms"].items()]
    width = max(len(row[0]) for row in rows) + 2
    left_out = summary.get("test_rows_left_out", 0)
    repeated = f" ({left_out} repeating a development row left out)" if left_out else ""
    lines = [f"CPU: {summary['cpu']}; {summary['threads']} threads, batch {summary['batch_size']}, sequence "
             f"{summary['seq_len']}; test accuracy on {summary['test_rows']} rows of {summary['task']}{repeated}",
             f"{'model':<{width}}{'latency ms':>11}{'vs parent':>11}{'accuracy':>10}{'of teacher':>12}"
             f"{'agreement':>11}"]
    for name, ms, accuracy, agreement in rows:
        lines.append(f"{name:<{width}}{ms:>11.2f}{parent_ms / ms:>10.2f}x{accuracy:>10.2%}{accuracy / teacher:>12.1%}"
                     f"{'' if agreement is None else f'{agreement:.2%}':>11}")
    lines.append(f"Student: {summary['params'] / 1e6:.1f}M parameters. Agreement: the artifact's test predictions "
                 "equal to the student's in PyTorch. * the runtime shipped: the fastest agreeing with the student on "
                 f"at least {summary['min_agreement']:.0%} of {summary['dev_rows']} development predictions with 95% "
                 "confidence (else the most agreeing).")
    lines += [f"Not shipped, failed parity with PyTorch: {runtime} ({message})"
              for runtime, message in summary.get("artifacts_refused", {}).items()]
    return "\n".join(lines)


def format_stage_times(seconds: dict[str, float | None]) -> str:
    """One line: the wall time of each stage's finishing attempt (stages reused from an earlier run included)."""
    times = ", ".join(f"{name} {'?' if value is None else f'{value:.0f} s'}" for name, value in seconds.items())
    known = [value for value in seconds.values() if value is not None]
    return f"Stage wall times: {times}; {sum(known) / 60:.1f} min in all."
