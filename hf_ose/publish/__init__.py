"""Publishing: model cards (:mod:`.card`), a folder's card from what it holds (:mod:`.folder_card`, ``hf-ose
card``) and pushes to the Hugging Face Hub (:mod:`.hub`)."""

from .card import (CARD_NAME, CardError, CardInputs, LatencyRow, LatencySetup, ModelSize, Score, build_card, public,
                   write_card)
from .folder_card import write_folder_card
from .hub import PushError, PushResult, push_to_hub

__all__ = [
    "CARD_NAME", "CardError", "CardInputs", "LatencyRow", "LatencySetup", "ModelSize", "PushError", "PushResult",
    "Score", "build_card", "public", "push_to_hub", "write_card", "write_folder_card",
]
