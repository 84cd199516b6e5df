"""Deprecated: moved to :mod:`hf_ose.latency.model`; goes in the next release."""

from ..latency import model, moved

__getattr__ = moved(__name__, model)
