"""Adapters to outside systems (export backends, Hub publishing, distributed executors), installed as
``hf_ose.integrations``. They import the core; the core never imports them."""
