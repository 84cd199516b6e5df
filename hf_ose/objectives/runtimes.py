"""Deprecated: moved to :mod:`hf_ose.latency.settings`; goes in the next release."""

from ..latency import moved, settings

__getattr__ = moved(__name__, settings)
