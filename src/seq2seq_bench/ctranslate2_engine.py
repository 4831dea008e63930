"""`engine=ctranslate2`: s2s-translate and s2s-evaluate decoding with CTranslate2.

CTranslate2 runs Transformer inference in C++ (fused kernels, int8 GEMMs, a leaner beam
search). The loaded model is converted in memory each time (about a second for the models
here; nothing is cached that could go stale): our Transformer through a specification that
maps it 1:1 (fused q/k/v and k/v projections, pre- or post-norm, its interleaved sinusoid
table given as position encodings), T5, mT5 and BART through CTranslate2's own
Transformers loaders. `bert_encoder` (an EncoderDecoderModel) has no CTranslate2 loader:
a clear error. In float32 the translations equal our `generate()` path's: greedy always,
beam search with `early_stopping=true` (CTranslate2 stops once num_beams hypotheses have
ended; generate()'s default may search on, so a few can differ: a warning says so). Tests
check both. `compute_type=int8` is opt-in, its BLEU difference reported by `s2s-evaluate`
like any other run's.

Only the best hypothesis is returned, without a score: `scores=true`, `nbest>1` and `min_p`
need `engine=torch`.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import torch
from transformers import PreTrainedModel

from seq2seq_bench.data.normalize import one_line
from seq2seq_bench.decoding import Decoding, DecodingError, ExternalEngine, Hypothesis
from seq2seq_bench.types import Tokenizers

log = logging.getLogger(__name__)

COMPUTE_TYPES = ("default", "float32", "int8", "int8_float32", "float16", "bfloat16")
MISSING_CONFIG = {"normalize_before": False}
POSITIONS = 1024  # the sinusoid table our Transformer is given: sources and outputs fit


class EngineError(ValueError):
    """A model or setting CTranslate2 cannot run, with what to use instead."""


def _import() -> Any:
    try:
        import ctranslate2
    except ImportError as err:
        raise EngineError(
            "engine=ctranslate2 needs the ctranslate2 package: pip install ctranslate2 "
            "(or seq2seq-bench[fast])"
        ) from err
    return ctranslate2


def vocabulary(tokenizer: Any, size: int) -> list[str]:
    """Token strings in id order, as many as the model's embedding has rows."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(min(len(tokenizer), size))))
    return [*tokens, *(f"<unused_{i}>" for i in range(len(tokens), size))]


def sinusoids(length: int, dim: int) -> torch.Tensor:
    """Our Transformer's positions (sin and cos interleaved), as a table."""
    from seq2seq_bench.models.transformer import PositionalEncoding, TransformerConfig

    encoding = PositionalEncoding(TransformerConfig(d_model=dim, num_heads=1))
    return encoding(torch.arange(length))


def transformer_spec(model: PreTrainedModel, tokenizers: Tokenizers) -> Any:
    """Our Transformer as a CTranslate2 TransformerSpec."""
    _import()
    from ctranslate2.specs import common_spec, transformer_spec

    config = model.config
    activation = {"relu": common_spec.Activation.RELU, "gelu": common_spec.Activation.GELU}
    spec = transformer_spec.TransformerSpec.from_config(
        (config.encoder_layers, config.decoder_layers),
        config.num_heads,
        pre_norm=config.norm_first,
        activation=activation[config.activation],
    )

    def linear(target: Any, module: torch.nn.Linear) -> None:
        target.weight = module.weight
        if module.bias is not None:
            target.bias = module.bias

    def norm(target: Any, module: torch.nn.LayerNorm) -> None:
        target.gamma, target.beta = module.weight, module.bias

    for side, stack in (("encoder", model.encoder), ("decoder", model.decoder)):
        target = getattr(spec, side)
        target.scale_embeddings = config.scale_embedding
        embeddings = (
            target.embeddings[0] if isinstance(target.embeddings, list) else target.embeddings
        )
        embeddings.weight = stack.embed_tokens.weight
        positions = stack.embed_positions
        target.position_encodings.encodings = (
            positions.weight
            if positions.weight is not None
            else sinusoids(POSITIONS, config.d_model)
        )
        if config.norm_first:
            norm(target.layer_norm, stack.final_norm)
        for layer_spec, layer in zip(target.layer, stack.layers, strict=True):
            linear(layer_spec.self_attention.linear[0], layer.self_attn.qkv_proj)
            linear(layer_spec.self_attention.linear[1], layer.self_attn.out_proj)
            norm(layer_spec.self_attention.layer_norm, layer.self_attn_norm)
            if side == "decoder":
                linear(layer_spec.attention.linear[0], layer.cross_attn.q_proj)
                linear(layer_spec.attention.linear[1], layer.cross_attn.kv_proj)
                linear(layer_spec.attention.linear[2], layer.cross_attn.out_proj)
                norm(layer_spec.attention.layer_norm, layer.cross_attn_norm)
            linear(layer_spec.ffn.linear_0, layer.ffn.fc1)
            linear(layer_spec.ffn.linear_1, layer.ffn.fc2)
            norm(layer_spec.ffn.layer_norm, layer.ffn_norm)
    linear(spec.decoder.projection, model.lm_head)

    source = tokenizers.source
    spec.register_source_vocabulary(vocabulary(source, config.vocab_size))
    spec.register_target_vocabulary(vocabulary(tokenizers.target, config.vocab_size))
    target = tokenizers.target
    spec.config.decoder_start_token = target.convert_ids_to_tokens(config.decoder_start_token_id)
    spec.config.bos_token = spec.config.decoder_start_token
    spec.config.eos_token = target.eos_token
    spec.config.unk_token = target.unk_token
    spec.config.layer_norm_epsilon = config.layer_norm_eps
    return spec


def transformers_spec(model: PreTrainedModel, tokenizers: Tokenizers) -> Any:
    """T5, mT5, BART: CTranslate2's own loader for the model's config class."""
    _import()
    from ctranslate2.converters import transformers as loaders

    loader = loaders._MODEL_LOADERS.get(type(model.config).__name__)
    if loader is None or model.config.model_type not in ("t5", "mt5", "bart"):
        raise EngineError(
            f"engine=ctranslate2 cannot run a {model.config.model_type!r} model (CTranslate2 "
            "converts our transformer_*, t5_*, mt5_* and bart_*): use engine=torch"
        )
    # CTranslate2 4.8 reads config attributes transformers 5 no longer sets: their value
    # for the models here (BART is post-norm), set for the conversion only
    added = {k: v for k, v in MISSING_CONFIG.items() if not hasattr(model.config, k)}
    for key, value in added.items():
        setattr(model.config, key, value)
    try:
        return loader(model, tokenizers.target)
    finally:
        for key in added:
            delattr(model.config, key)


class CTranslate2Model(ExternalEngine):
    """A converted model that `decoding.decode_batch` decodes with instead of `generate()`."""

    # CTranslate2 drops a finished sentence from its batch, so larger batches pay: only
    # max_tokens bounds them unless the user gives batch_size (decoding.batch_size_for)
    batch_size = None

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizers: Tokenizers,
        compute_type: str = "default",
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        ctranslate2 = _import()
        from ctranslate2.converters.converter import Converter

        if compute_type not in COMPUTE_TYPES:
            raise EngineError(
                f"compute_type={compute_type}: choose one of {', '.join(COMPUTE_TYPES)}"
            )
        if model.config.model_type == "s2s_transformer":
            spec = transformer_spec(model, tokenizers)
        else:
            spec = transformers_spec(model, tokenizers)

        class InMemory(Converter):
            def _load(self) -> Any:
                return spec

        self.tokenizers, self.compute_type = tokenizers, compute_type
        self.warned = False
        self.device = torch.device(device)
        with tempfile.TemporaryDirectory(prefix="s2s-ct2-") as folder:
            InMemory().convert(folder, force=True)
            self.translator = ctranslate2.Translator(
                folder,
                device=device,
                compute_type=compute_type,
                intra_threads=threads or torch.get_num_threads(),
            )

    def check(self, decoding: Decoding, scores: bool) -> None:
        if scores or decoding.nbest > 1 or decoding.min_p:
            raise DecodingError(
                "engine=ctranslate2 returns the best hypothesis without a score: scores=true, "
                "nbest>1 and min_p need engine=torch"
            )
        if decoding.num_beams > 1 and not decoding.early_stopping and not self.warned:
            self.warned = True
            log.warning(
                "engine=ctranslate2: beam search stops once num_beams hypotheses have ended, "
                "as generate() does with early_stopping=true; with early_stopping=false "
                "generate() may search on, so a few translations can differ"
            )

    def decode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        decoding: Decoding,
        scores: bool = False,
    ) -> list[list[Hypothesis]]:
        self.check(decoding, scores)
        source = self.tokenizers.source
        rows = [
            ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask, strict=True)
        ]
        tokens = [source.convert_ids_to_tokens(ids) for ids in rows]
        options: dict[str, Any] = dict(
            beam_size=decoding.num_beams,
            length_penalty=decoding.length_penalty,
            no_repeat_ngram_size=decoding.no_repeat_ngram_size,
            max_decoding_length=min(decoding.max_new_tokens, POSITIONS - 1),
            max_batch_size=len(tokens),
            min_decoding_length=0,  # generate() may end at once, too
        )
        if decoding.do_sample:
            _import().set_random_seed(decoding.seed)  # every batch: the same seed, the same samples
            options |= dict(
                beam_size=1,
                sampling_topk=decoding.top_k,  # 0: the whole vocabulary, as top_k=0 here
                sampling_topp=decoding.top_p,
                sampling_temperature=decoding.temperature,
            )
        results = self.translator.translate_batch(tokens, **options)
        target = self.tokenizers.target
        texts = target.batch_decode(
            [target.convert_tokens_to_ids(r.hypotheses[0]) for r in results],
            skip_special_tokens=True,
            clean_up_tokenization_spaces=False,
        )
        return [[Hypothesis(one_line(t))] for t in texts]
