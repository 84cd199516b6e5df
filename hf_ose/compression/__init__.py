"""``hf-ose compress``: from a parent and a task to a smaller, faster, checked and documented model. The pipeline
loads on first use, so the settings import light (the command line's help reads them)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_names
from .ledger import StageLedger, StageLedgerError
from .settings import DEFAULT_MIN_SPEEDUP, CompressSettings, CompressSettingsError

#: Public names loaded on first use, by the module that defines them.
_LAZY: dict[str, str] = {"CompressResult": "pipeline", "compress": "pipeline"}

if TYPE_CHECKING:
    from .pipeline import CompressResult, compress


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

__all__ = ["CompressResult", "CompressSettings", "CompressSettingsError", "DEFAULT_MIN_SPEEDUP", "StageLedger",
           "StageLedgerError", "compress"]
