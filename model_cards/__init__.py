"""Model card templates, installed with hf-ose as ``hf_ose.model_cards`` (package data)."""
