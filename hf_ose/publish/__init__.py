"""Publishing: model cards (:mod:`.card`) and pushes to the Hugging Face Hub (:mod:`.hub`)."""

from .card import CardError, CardInputs, LatencyRow, LatencySetup, ModelSize, Score, build_card, write_card
from .hub import PushError, PushResult, push_to_hub

__all__ = [
    "CardError", "CardInputs", "LatencyRow", "LatencySetup", "ModelSize", "PushError", "PushResult", "Score",
    "build_card", "push_to_hub", "write_card",
]
