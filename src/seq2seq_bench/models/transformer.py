"""The vanilla Transformer (Vaswani et al., 2017) as a Hugging Face ``PreTrainedModel``.

Being a real ``PreTrainedModel`` + ``GenerationMixin`` buys ``save_pretrained``/``from_pretrained``,
the Auto classes and the whole of ``generate()`` (greedy, beam, sampling, n-gram blocking) for free,
so the training and evaluation code treats this backbone exactly like T5, BART or Marian.

Written against the transformers 5.x API: configs are dataclasses, caches are ``Cache`` objects
(``EncoderDecoderCache`` holding a ``DynamicCache`` per attention kind) and ``_tied_weights_keys`` is
a ``{target: source}`` mapping that ``post_init``/``from_pretrained`` resolve into shared parameters.

The decoder cache changed its name inside 5.x: ``generate()`` passes it as ``past_key_values`` up
to 5.23 and as ``cache`` from 5.24, and reads it back from the output field of the same name. The
forward takes both and writes the field the installed version has. It takes no ``**kwargs``: an
argument it does not know is a ``TypeError``, and ``generate()`` (which checks model arguments
against this signature) refuses a misspelled generation option instead of passing it through.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    GenerationMixin,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPast, Seq2SeqLMOutput

# relative: `save_pretrained` copies relatively imported files into an export with this one
from .packing import Packing, is_right_padded

# The name of the cache field in model outputs: "cache" from transformers 5.24, "past_key_values"
# before. generate() carries the cache from one step to the next under this name.
CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}
# Up to this many keys, attention that will be backpropagated runs on SDPA's math backend on a
# CPU: PyTorch's fused CPU kernel (flash) took 1.5-2x longer forward + backward than the math
# backend at the lengths of sentence-level translation (keys 7-64, ~4k tokens a batch), the
# same at 128 and less from 256. Without a backward (decoding) the fused kernel is the faster.
# Under bf16 autocast the gap is wider: a transformer_base step 1.40x (README, bf16 on a CPU).
CPU_MATH_ATTENTION_MAX_KEYS = 64
POSITION_EMBEDDINGS = ("sinusoidal", "learned")


class TransformerConfig(PretrainedConfig):
    """Hyper-parameters of the encoder-decoder Transformer; defaults are the paper's *base* model,
    except ``norm_first=True`` (pre-norm trains stably without warm-up tricks)."""

    model_type = "s2s_transformer"
    keys_to_ignore_at_inference = ["past_key_values"]
    # Generic names that transformers utilities (and get_text_config) look up.
    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "num_heads",
        "num_hidden_layers": "encoder_layers",
    }

    vocab_size: int = 32000
    d_model: int = 512
    encoder_layers: int = 6
    decoder_layers: int = 6
    num_heads: int = 8
    d_ff: int = 2048
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation: str = "relu"
    norm_first: bool = True
    position_embedding: str = "sinusoidal"
    max_position_embeddings: int = 512
    tie_word_embeddings: bool = True
    scale_embedding: bool = True
    layer_norm_eps: float = 1e-5
    pad_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 1
    bos_token_id: int | None = None
    decoder_start_token_id: int | None = 0
    is_encoder_decoder: bool = True
    use_cache: bool = True

    def __post_init__(self, **kwargs: Any) -> None:
        # Fail at construction (also when loading a config.json), not deep inside the first forward.
        if self.d_model % self.num_heads != 0:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; expected one of {sorted(ACTIVATIONS)}"
            )
        if self.position_embedding not in POSITION_EMBEDDINGS:
            raise ValueError(
                f"unknown position_embedding {self.position_embedding!r}; "
                f"expected one of {list(POSITION_EMBEDDINGS)}"
            )
        if self.position_embedding == "sinusoidal" and self.d_model % 2 != 0:
            raise ValueError(f"sinusoidal positions need an even d_model, got {self.d_model}")
        super().__post_init__(**kwargs)


class PositionalEncoding(nn.Module):
    """Absolute positions. Sinusoids are computed on the fly rather than stored as a buffer: there is
    nothing to save, load or re-initialise (transformers 5 builds models on the meta device, so
    non-persistent buffers would need special care) and there is no length limit."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.dim = config.d_model
        learned = config.position_embedding == "learned"
        shape = (config.max_position_embeddings, config.d_model)
        self.weight = nn.Parameter(torch.empty(shape)) if learned else None

    def forward(self, positions: Tensor) -> Tensor:
        if self.weight is not None:
            return F.embedding(positions, self.weight)
        exponent = torch.arange(0, self.dim, 2, device=positions.device, dtype=torch.float32)
        inv_freq = torch.exp(exponent * (-math.log(10000.0) / self.dim))
        angles = positions.float().unsqueeze(-1) * inv_freq
        # Interleaved as in the paper: PE[pos, 2i] = sin, PE[pos, 2i + 1] = cos.
        return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)


class _Attention(nn.Module):
    """Multi-head attention on top of ``F.scaled_dot_product_attention`` (fused kernels on CPU and
    GPU); heads are a tensor dimension, never a Python loop."""

    def __init__(self, config: TransformerConfig, layer_idx: int) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.head_dim = config.d_model // config.num_heads
        self.dropout = config.attention_dropout
        self.layer_idx = layer_idx
        self.out_proj = nn.Linear(config.d_model, config.d_model)

    def _heads(self, x: Tensor, n: int, packing: Packing | None) -> tuple[Tensor, ...]:
        """Split a fused projection (B, T, n * D), or its packed rows (N, n * D), into n views
        of shape (B, H, T, Dh)."""
        if packing is not None:
            x = packing.unpack(x)
        b, t, _ = x.shape
        return x.view(b, t, n, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)

    def _attend(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None,
        is_causal: bool,
        packing: Packing | None,
    ) -> Tensor:
        dropout = self.dropout if self.training else 0.0
        out = attention(q, k, v, mask, dropout, is_causal)
        if packing is not None:
            return self.out_proj(packing.pack_heads(out))
        b, _, t, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, -1))


def attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout: float, is_causal: bool
) -> Tensor:
    """``F.scaled_dot_product_attention``, on its math backend when training on short
    sequences on a CPU (`CPU_MATH_ATTENTION_MAX_KEYS`). Both backends compute the same
    attention; they round differently (the fused kernel's softmax runs blockwise)."""
    backward = torch.is_grad_enabled() and any(x.requires_grad for x in (q, k, v))
    short = q.device.type == "cpu" and k.size(-2) <= CPU_MATH_ATTENTION_MAX_KEYS
    with sdpa_kernel(SDPBackend.MATH) if backward and short else contextlib.nullcontext():
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal
        )


class SelfAttention(_Attention):
    """q, k and v come from one fused projection: one large GEMM beats three small ones on CPU."""

    def __init__(self, config: TransformerConfig, layer_idx: int) -> None:
        super().__init__(config, layer_idx)
        self.qkv_proj = nn.Linear(config.d_model, 3 * config.d_model)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        is_causal: bool = False,
        cache: Cache | None = None,
        packing: Packing | None = None,
    ) -> Tensor:
        q, k, v = self._heads(self.qkv_proj(x), 3, packing)
        if cache is not None:  # keys/values of earlier steps are appended, so the cache grows by T
            k, v = cache.update(k, v, self.layer_idx)
        return self._attend(q, k, v, mask, is_causal, packing)


class CrossAttention(_Attention):
    """Decoder-to-encoder attention. The encoder output is fixed during decoding, so its keys and
    values are projected once per sequence and then read back from the cache."""

    def __init__(self, config: TransformerConfig, layer_idx: int) -> None:
        super().__init__(config, layer_idx)
        self.q_proj = nn.Linear(config.d_model, config.d_model)
        self.kv_proj = nn.Linear(config.d_model, 2 * config.d_model)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        mask: Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        packing: Packing | None = None,
        memory_packing: Packing | None = None,
    ) -> Tensor:
        (q,) = self._heads(self.q_proj(x), 1, packing)
        if cache is not None and cache.is_updated.get(self.layer_idx):
            layer = cache.cross_attention_cache.layers[self.layer_idx]
            k, v = layer.keys, layer.values
        else:
            k, v = self._heads(self.kv_proj(memory), 2, memory_packing)
            if cache is not None:
                k, v = cache.cross_attention_cache.update(k, v, self.layer_idx)
                cache.is_updated[self.layer_idx] = True
        return self._attend(q, k, v, mask, False, packing)


class FeedForward(nn.Module):
    """Position-wise FFN. No inner dropout: the paper only drops sub-layer outputs."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_ff)
        self.fc2 = nn.Linear(config.d_ff, config.d_model)
        self.activation = ACTIVATIONS[config.activation]

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.activation(self.fc1(x)))


class _Layer(nn.Module):
    """Shared residual wiring, so pre-norm vs post-norm is decided in exactly one place."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.norm_first = config.norm_first
        self.dropout = nn.Dropout(config.dropout)

    def _residual(
        self, x: Tensor, norm: nn.LayerNorm, sublayer: Callable[[Tensor], Tensor]
    ) -> Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(norm(x)))
        return norm(x + self.dropout(sublayer(x)))


class EncoderLayer(_Layer):
    def __init__(self, config: TransformerConfig, layer_idx: int) -> None:
        super().__init__(config)
        self.self_attn = SelfAttention(config, layer_idx)
        self.self_attn_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def forward(self, x: Tensor, mask: Tensor | None, packing: Packing | None = None) -> Tensor:
        x = self._residual(
            x, self.self_attn_norm, lambda h: self.self_attn(h, mask, packing=packing)
        )
        return self._residual(x, self.ffn_norm, self.ffn)


class DecoderLayer(_Layer):
    def __init__(self, config: TransformerConfig, layer_idx: int) -> None:
        super().__init__(config)
        self.self_attn = SelfAttention(config, layer_idx)
        self.self_attn_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.cross_attn = CrossAttention(config, layer_idx)
        self.cross_attn_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_mask: Tensor | None,
        is_causal: bool,
        memory_mask: Tensor | None,
        cache: EncoderDecoderCache | None,
        packing: Packing | None = None,
        memory_packing: Packing | None = None,
    ) -> Tensor:
        self_cache = cache.self_attention_cache if cache is not None else None
        x = self._residual(
            x,
            self.self_attn_norm,
            lambda h: self.self_attn(h, self_mask, is_causal, self_cache, packing),
        )
        x = self._residual(
            x,
            self.cross_attn_norm,
            lambda h: self.cross_attn(h, memory, memory_mask, cache, packing, memory_packing),
        )
        return self._residual(x, self.ffn_norm, self.ffn)


def padding_mask(attention_mask: Tensor | None) -> Tensor | None:
    """(B, S) 1/0 mask -> boolean (B, 1, 1, S) that broadcasts over heads and queries in SDPA."""
    return None if attention_mask is None else attention_mask[:, None, None, :].bool()


def causal_mask(
    q_len: int, past_len: int, attention_mask: Tensor | None, device: torch.device
) -> tuple[Tensor | None, bool]:
    """(attn_mask, is_causal) for decoder self-attention over ``past_len`` cached + ``q_len`` new
    tokens. SDPA's own ``is_causal`` aligns the triangle top-left, which is only right without a
    cache, so the explicit (bottom-right aligned) mask is built only when it is really needed."""
    if attention_mask is None:
        if q_len == 1:
            return None, False  # one new token may see everything before it
        if past_len == 0:
            return None, True
    query_pos = torch.arange(past_len, past_len + q_len, device=device)[:, None]
    key_pos = torch.arange(past_len + q_len, device=device)
    mask = key_pos <= query_pos
    if attention_mask is not None:
        # A query always sees itself, so a padded row is never fully masked (SDPA would give NaN).
        mask = (mask & padding_mask(attention_mask)) | (key_pos == query_pos)
    return mask, False


def check_cache_position(cache_position: Tensor | None, cache: Cache | None) -> None:
    """Decoding that disagrees with the cache about where it is would be silently wrong."""
    if cache_position is None or cache_position.numel() == 0:
        return
    past_len = cache.get_seq_length() if cache is not None else 0
    if int(cache_position.reshape(-1)[0]) != past_len:
        raise ValueError(
            f"cache_position starts at {int(cache_position.reshape(-1)[0])} but the decoder "
            f"cache holds {past_len} tokens"
        )


class _Stack(nn.Module):
    """What encoder and decoder share: scaled token embedding + positions + dropout, final norm."""

    def __init__(self, config: TransformerConfig, num_layers: int, layer: type[nn.Module]) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.embed_positions = PositionalEncoding(config)
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(layer(config, i) for i in range(num_layers))
        # Post-norm layers already end in a LayerNorm; pre-norm stacks need one on top.
        norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.final_norm = norm if config.norm_first else nn.Identity()

    def embed(self, input_ids: Tensor, positions: Tensor) -> Tensor:
        x = self.embed_tokens(input_ids) * self.embed_scale
        return self.dropout(x + self.embed_positions(positions).to(x.dtype))


class TransformerEncoder(_Stack):
    main_input_name = "input_ids"  # generate() reads it off the module that get_encoder() returns

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config, config.encoder_layers, EncoderLayer)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        packing: Packing | None = None,
    ) -> BaseModelOutput:
        """The three flags are what ``generate()`` sends every encoder; the output is always a
        ``BaseModelOutput`` without attentions or hidden states, so asking for them is an error.
        ``packing`` (of ``attention_mask``): the layers run on the real tokens only
        (packing.py), and the output is padded again, with zeros where the input is padding."""
        if output_attentions or output_hidden_states:
            raise NotImplementedError("this Transformer returns no attentions or hidden states")
        if packing is None:
            x = self.embed(input_ids, torch.arange(input_ids.shape[1], device=input_ids.device))
        else:
            x = self.embed(packing.pack(input_ids), packing.columns)
        mask = padding_mask(attention_mask)
        for layer in self.layers:
            x = layer(x, mask, packing)
        x = self.final_norm(x)
        return BaseModelOutput(last_hidden_state=x if packing is None else packing.unpack(x))


class TransformerDecoder(_Stack):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config, config.decoder_layers, DecoderLayer)

    def forward(
        self,
        input_ids: Tensor,
        encoder_hidden_states: Tensor,
        encoder_attention_mask: Tensor | None = None,
        attention_mask: Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        packing: Packing | None = None,
        memory_packing: Packing | None = None,
    ) -> BaseModelOutputWithPast:
        """``packing`` (of right-padded targets, teacher forcing without a cache): the layers
        run on the real target tokens only, and the output is their packed rows (N, d).
        ``memory_packing`` (of ``encoder_attention_mask``): the cross-attention keys and
        values are projected from the encoder's real tokens only."""
        q_len = input_ids.shape[1]
        past_len = cache.get_seq_length() if cache is not None else 0
        if packing is None:
            # New tokens continue where the cache ends: cached and full decoding see equal positions.
            positions = torch.arange(past_len, past_len + q_len, device=input_ids.device)
            x = self.embed(input_ids, positions)
        else:
            x = self.embed(packing.pack(input_ids), packing.columns)
        self_mask, is_causal = causal_mask(q_len, past_len, attention_mask, input_ids.device)
        memory_mask = padding_mask(encoder_attention_mask)
        memory = encoder_hidden_states
        if memory_packing is not None:
            memory = memory_packing.pack(encoder_hidden_states)
        for layer in self.layers:
            x = layer(x, memory, self_mask, is_causal, memory_mask, cache, packing, memory_packing)
        return BaseModelOutputWithPast(last_hidden_state=self.final_norm(x), **{CACHE_FIELD: cache})


class TransformerForSeq2Seq(PreTrainedModel, GenerationMixin):
    """Encoder-decoder Transformer with an LM head. Module names follow T5 (``shared``,
    ``encoder``, ``decoder``, ``lm_head``) because the framework freezes parameters by prefix."""

    config_class = TransformerConfig
    config: TransformerConfig
    main_input_name = "input_ids"
    _supports_sdpa = True
    # forward() takes **legacy (cache_position from older generate()): without this, Hugging
    # Face's Trainer reads any **kwargs as "accepts num_items_in_batch" and passes it
    accepts_loss_kwargs = False
    # Set by `packing.use_padding_free` (train.yaml's padding_free): teacher forcing told where
    # the target padding is (decoder_attention_mask, which the objectives then pass) runs its
    # layers on the real tokens only. Off, every call runs the padded layout.
    trains_padding_free = False
    _no_split_modules = ["EncoderLayer", "DecoderLayer"]
    # transformers 5: {target: source}. Only applied when config.tie_word_embeddings is True; then
    # the three are one Parameter and only ``shared.weight`` is written to the checkpoint.
    _tied_weights_keys = {
        "encoder.embed_tokens.weight": "shared.weight",
        "decoder.embed_tokens.weight": "shared.weight",
        "lm_head.weight": "shared.weight",
    }

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = TransformerEncoder(config)
        self.decoder = TransformerDecoder(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()  # initialises weights, then ties them

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Embeddings ~ N(0, d_model^-0.5): multiplied by sqrt(d_model) they enter at unit scale, and
        as the tied output matrix they give unit-scale logits. ``transformers.initialization``
        functions skip tensors already loaded from a checkpoint."""
        std = self.config.d_model**-0.5
        if isinstance(module, nn.Embedding):
            init.normal_(module.weight, std=std)
            pad = self.config.pad_token_id
            # Zeroed, not frozen (no padding_idx): pad doubles as decoder start token and must learn.
            if pad is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[pad])
        elif isinstance(module, PositionalEncoding) and module.weight is not None:
            init.normal_(module.weight, std=std)
        elif isinstance(module, nn.Linear):
            if module is self.lm_head:  # only matters when untied
                init.normal_(module.weight, std=std)
            else:
                init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.shared

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.shared = value
        self.encoder.embed_tokens = value
        self.decoder.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def get_encoder(self, modality: str | None = None) -> TransformerEncoder:
        return self.encoder

    def get_decoder(self) -> TransformerDecoder:
        return self.decoder

    def prepare_decoder_input_ids_from_labels(self, labels: Tensor) -> Tensor:
        """Teacher forcing: the decoder sees the labels shifted right behind the start token, with
        the -100 loss padding turned back into real pad ids."""
        start, pad = self.config.decoder_start_token_id, self.config.pad_token_id
        if start is None or pad is None:
            raise ValueError("decoder_start_token_id and pad_token_id must be set to shift labels")
        shifted = labels.new_full(labels.shape, start)
        shifted[:, 1:] = labels[:, :-1]
        return shifted.masked_fill_(shifted == -100, pad)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        decoder_input_ids: Tensor | None = None,
        decoder_attention_mask: Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple[Tensor, ...] | None = None,
        cache: EncoderDecoderCache | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        labels: Tensor | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        inputs_embeds: Tensor | None = None,
        decoder_inputs_embeds: Tensor | None = None,
        **legacy: Tensor | None,
    ) -> Seq2SeqLMOutput | tuple[Tensor, ...]:
        """``cache`` (transformers >= 5.24) and ``past_key_values`` (before) are the same thing
        under its two names. Positions come from the cache length; ``cache_position``, which
        generate() before 5.24 sends, arrives in ``legacy`` and is only checked against it
        (a named parameter would make 5.24's generate() warn that we still expect it; any
        other extra argument is refused). The loss is plain token-level cross entropy; label
        smoothing is the training objective's business. The embeddings inputs exist because
        peft and generate() pass them (as None); tokens are the only input."""
        unknown = set(legacy) - {"cache_position"}
        if unknown:
            raise TypeError(f"unexpected arguments to the Transformer: {sorted(unknown)}")
        if inputs_embeds is not None or decoder_inputs_embeds is not None:
            raise NotImplementedError("this Transformer reads token ids, not inputs_embeds")
        if cache is not None and past_key_values is not None:
            raise ValueError("pass the decoder cache as `cache` or `past_key_values`, not both")
        if output_attentions or output_hidden_states:
            raise NotImplementedError("this Transformer returns no attentions or hidden states")
        past = cache if cache is not None else past_key_values
        if labels is not None:
            use_cache = False  # teacher forcing sees the whole target at once
            if decoder_input_ids is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        if decoder_input_ids is None:
            raise ValueError("pass decoder_input_ids or labels")
        if use_cache is None:  # a cache only pays off when decoding step by step
            use_cache = past is not None or (self.config.use_cache and not self.training)

        # Teacher forcing told where the targets' padding is runs on real tokens (packing.py).
        source = target = None
        decoder_mask = decoder_attention_mask
        if self.trains_padding_free and not use_cache and decoder_attention_mask is not None:
            source = Packing.of(attention_mask) if attention_mask is not None else None
            if is_right_padded(decoder_attention_mask):
                target = Packing.of(decoder_attention_mask)
                decoder_mask = None  # causality alone keeps real tokens off the padding after them
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids, attention_mask, packing=source)
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(last_hidden_state=encoder_outputs[0])

        cache = past if use_cache else None
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        check_cache_position(legacy.get("cache_position"), cache)
        decoded = self.decoder(
            decoder_input_ids,
            encoder_outputs.last_hidden_state,
            encoder_attention_mask=attention_mask,
            attention_mask=decoder_mask,
            cache=cache,
            packing=target,
            memory_packing=source,
        )
        logits = self.lm_head(decoded.last_hidden_state)
        if target is not None:
            logits = target.unpack(logits)  # zeros where the target is padding

        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.flatten(0, 1).float(), labels.flatten().to(logits.device), ignore_index=-100
            )
        output = Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            **{CACHE_FIELD: cache},
        )
        # None (what peft and other wrappers pass on) means the config's choice, as in HF models
        return_dict = self.config.return_dict if return_dict is None else return_dict
        return output if return_dict else output.to_tuple()


AutoConfig.register(TransformerConfig.model_type, TransformerConfig, exist_ok=True)
AutoModelForSeq2SeqLM.register(TransformerConfig, TransformerForSeq2Seq, exist_ok=True)
