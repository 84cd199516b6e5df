"""``hf-ose compress``: from a parent and a task to a smaller, faster, checked and documented model."""

from .ledger import StageLedger, StageLedgerError
from .pipeline import CompressResult, compress
from .settings import DEFAULT_MIN_SPEEDUP, CompressSettings, CompressSettingsError

__all__ = ["CompressResult", "CompressSettings", "CompressSettingsError", "DEFAULT_MIN_SPEEDUP", "StageLedger",
           "StageLedgerError", "compress"]
