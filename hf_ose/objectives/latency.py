"""Deprecated: moved to :mod:`hf_ose.latency.settings` and :mod:`hf_ose.latency.timing`; goes in the next release."""

from ..latency import moved, settings, timing

__getattr__ = moved(__name__, settings, timing)
