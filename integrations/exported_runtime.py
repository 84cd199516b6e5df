"""Deprecated: moved to :mod:`hf_ose.integrations.latency_runtimes`; goes in the next release."""

from hf_ose.integrations import latency_runtimes
from hf_ose.latency import moved

__getattr__ = moved(__name__, latency_runtimes)
