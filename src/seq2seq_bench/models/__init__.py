"""Importing this package makes every backbone loadable by the Auto classes.

Our own backbones register with ``AutoConfig``/``AutoModelForSeq2SeqLM`` when their module
is imported (HF-native backbones need nothing). ``register_for_auto_class`` also makes
``save_pretrained`` copy the model's code beside its weights and name it in
``config.json``'s ``auto_map``, so an exported model loads in plain transformers, without
this package: ``AutoModelForSeq2SeqLM.from_pretrained(dir, trust_remote_code=True)``.
"""

from seq2seq_bench.models.transformer import TransformerConfig, TransformerForSeq2Seq

TransformerConfig.register_for_auto_class()
TransformerForSeq2Seq.register_for_auto_class("AutoModelForSeq2SeqLM")
