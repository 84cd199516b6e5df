"""Third-party log lines that tell an hf-ose user nothing, dropped around hf-ose's own work unless asked for
(``hf-ose --verbose``): ONNX Runtime's hint to pre-process every model it quantises (hf-ose's int8 export
does not need it), transformers' LOAD REPORT table for the heads hf-ose adds or drops on purpose, and its
``ForCausalLMLoss`` notice, printed when a BERT-like encoder (which has no causal loss) is trained."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

#: Logger name ("": the root logger, which ONNX Runtime's quantiser logs to) -> fragments of the dropped messages.
NOISE: dict[str, tuple[str, ...]] = {
    "": ("pre-processing before quantization",),
    "transformers.modeling_utils": ("LOAD REPORT", "Using the default loss: `ForCausalLMLoss`"),
}


class _DropMessages(logging.Filter):
    """Drops the records whose message holds one of ``fragments``."""

    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


@contextmanager
def third_party_noise_silenced() -> Iterator[None]:
    """Within the block, the :data:`NOISE` messages are dropped at their loggers; every other message, and
    these after the block, pass as before."""
    installed = [(logging.getLogger(name), _DropMessages(fragments)) for name, fragments in NOISE.items()]
    for logger, drop in installed:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger, drop in installed:
            logger.removeFilter(drop)
