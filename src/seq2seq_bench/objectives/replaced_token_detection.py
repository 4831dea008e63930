"""ELECTRA replaced-token detection (Clark et al., 2020) around any seq2seq backbone.

The backbone's encoder is the discriminator. A small generator (a Transformer encoder
`generator_width` x the discriminator's width, reading and predicting through the
discriminator's own token embedding: shared embeddings, as in the paper) fills the
<mask> positions with tokens it samples; the discriminator then labels every input token
"original" or "replaced". Loss = generator MLM loss + `discriminator_weight` x
discriminator loss (the paper's 50). After pretraining only the backbone is exported, so
`model.init=pretrained` starts translation from the pretrained encoder (its decoder stays
as initialised: ELECTRA trains no decoder).

The model returns two-class logits with their labels (`token_labels`); the ELECTRA
objective's hooks hand the module this loss and those labels, so loss, token accuracy and
perplexity are the discriminator's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from seq2seq_bench.types import LABEL_PAD


@dataclass
class ReplacedTokenOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None  # (B, T, 2): original / replaced, per input token
    token_labels: Tensor | None = None  # (B, T): 1 = replaced, LABEL_PAD at padding
    generator_loss: Tensor | None = None
    discriminator_loss: Tensor | None = None


class Generator(nn.Module):
    """A narrow Transformer encoder that reads and predicts through a shared embedding."""

    def __init__(
        self, embedding: nn.Embedding, width: int, layers: int, max_positions: int = 1024
    ) -> None:
        super().__init__()
        self.embedding = embedding  # the discriminator's: not a copy
        dim = embedding.embedding_dim
        heads = max(1, width // 64)
        self.down = nn.Linear(dim, width)
        self.positions = nn.Embedding(max_positions, width)
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.1, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.up = nn.Sequential(nn.Linear(width, dim), nn.GELU(), nn.LayerNorm(dim))
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.down(self.embedding(input_ids)) + self.positions(positions)
        x = self.layers(x, src_key_padding_mask=attention_mask == 0)
        return self.up(x) @ self.embedding.weight.T + self.bias


class ReplacedTokenDetection(nn.Module):
    def __init__(
        self,
        seq2seq: PreTrainedModel,
        mask_token_id: int,
        special_ids: list[int],
        generator_width: float = 0.25,
        generator_layers: int | None = None,
        discriminator_weight: float = 50.0,
    ) -> None:
        super().__init__()
        if not 0.0 < generator_width <= 1.0:
            raise ValueError(f"objective.generator_width={generator_width}: a fraction in (0, 1]")
        self.seq2seq, self.mask_token_id = seq2seq, mask_token_id
        self.discriminator_weight = discriminator_weight
        embedding = seq2seq.get_input_embeddings()
        dim = embedding.embedding_dim
        width = max(8, int(dim * generator_width))
        encoder = seq2seq.get_encoder()
        depth = generator_layers or max(1, len(getattr(encoder, "layers", [])) or 2)
        self.generator = Generator(embedding, width, depth)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))
        self.register_buffer("special", torch.tensor(sorted(set(special_ids))), persistent=False)

    def export(self) -> PreTrainedModel:
        """What a pretraining run saves as its model: the seq2seq backbone alone."""
        return self.seq2seq

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor
    ) -> ReplacedTokenOutput:
        masked = input_ids == self.mask_token_id
        generator_logits = self.generator(input_ids, attention_mask)
        if masked.any():
            generator_loss = nn.functional.cross_entropy(
                generator_logits[masked].float(), labels[masked]
            )
        else:  # a batch with nothing masked (very short texts): nothing for the generator
            generator_loss = generator_logits.sum() * 0.0
        with torch.no_grad():  # sampling is not differentiable: the generator learns by MLM
            sample_logits = generator_logits[masked].float()
            sample_logits[:, self.special] = float("-inf")
            sampled = torch.distributions.Categorical(logits=sample_logits).sample()
        corrupted = input_ids.masked_scatter(masked, sampled)
        replaced = (corrupted != labels[:, : input_ids.shape[1]]).long()
        token_labels = replaced.masked_fill(attention_mask == 0, LABEL_PAD)
        hidden = self.seq2seq.get_encoder()(
            input_ids=corrupted, attention_mask=attention_mask
        ).last_hidden_state
        score = self.head(hidden).squeeze(-1).float()
        real = attention_mask.bool()
        discriminator_loss = nn.functional.binary_cross_entropy_with_logits(
            score[real], replaced[real].float()
        )
        loss = generator_loss + self.discriminator_weight * discriminator_loss
        # softmax([-s/2, s/2]) = [1 - sigmoid(s), sigmoid(s)]: the same probabilities as a CE
        logits = torch.stack([-score / 2, score / 2], dim=-1)
        return ReplacedTokenOutput(loss, logits, token_labels, generator_loss, discriminator_loss)
