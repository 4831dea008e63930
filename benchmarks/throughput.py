"""Training throughput (target tokens/s) of our Transformer against a peer in the same run.

The peer is `torch.nn.Transformer` of the same shape with an embedding and output layer,
i.e. what a naive single-file script would train. Both see identical length-bucketed
batches; only the ratio between them is meaningful across machines.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from seq2seq_bench.models.transformer import TransformerConfig, TransformerForSeq2Seq


class PeerTransformer(nn.Module):
    """nn.Transformer with tied embeddings and sinusoid-free learned positions: the naive baseline."""

    def __init__(self, vocab: int, d: int, enc: int, dec: int, heads: int, ff: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(512, d)
        self.core = nn.Transformer(
            d, heads, enc, dec, ff, dropout=0.1, batch_first=True, norm_first=True
        )
        self.out = nn.Linear(d, vocab, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, src, src_mask, tgt_in):
        def embed(x):
            return self.emb(x) * math.sqrt(self.emb.embedding_dim) + self.pos(
                torch.arange(x.size(1))
            )

        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.size(1))
        h = self.core(
            embed(src),
            embed(tgt_in),
            tgt_mask=causal,
            src_key_padding_mask=~src_mask.bool(),
            memory_key_padding_mask=~src_mask.bool(),
            tgt_is_causal=True,
        )
        return self.out(h)


def _batches(vocab: int, n: int, max_tokens: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = 6 + (i * 7) % 18  # buckets of 6..23 tokens, like Tatoeba
        rows = max_tokens // length
        src = torch.randint(5, vocab, (rows, length), generator=g)
        tgt = torch.randint(5, vocab, (rows, length + 1), generator=g)
        out.append((src, torch.ones_like(src), tgt))
    return out


def _time(step, batches, warmup: int = 2) -> float:
    for b in batches[:warmup]:
        step(*b)
    start, tokens = time.perf_counter(), 0
    for b in batches[warmup:]:
        step(*b)
        tokens += b[2].numel()
    return tokens / (time.perf_counter() - start)


def measure(shape: dict, vocab: int = 8000, steps: int = 10, max_tokens: int = 4096) -> dict:
    torch.manual_seed(0)
    batches = _batches(vocab, steps + 2, max_tokens)
    ours = TransformerForSeq2Seq(TransformerConfig(vocab_size=vocab, **shape))
    peer = PeerTransformer(
        vocab,
        shape["d_model"],
        shape["encoder_layers"],
        shape["decoder_layers"],
        shape["num_heads"],
        shape["d_ff"],
    )
    results = {}
    for name, model in (("ours", ours), ("peer_nn_transformer", peer)):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(src, mask, tgt, model=model, opt=opt, name=name):
            if name == "ours":
                logits = model(input_ids=src, attention_mask=mask, labels=tgt).logits
            else:
                logits = model(src, mask, torch.cat([torch.zeros_like(tgt[:, :1]), tgt[:, :-1]], 1))
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), tgt.reshape(-1))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        results[name] = _time(step, batches)
    params = sum(p.numel() for p in {id(p): p for p in ours.parameters()}.values())
    return {
        "shape": shape,
        "params": params,
        **results,
        "ratio": results["ours"] / results["peer_nn_transformer"],
    }


if __name__ == "__main__":
    import json
    import sys

    shape = (
        json.loads(sys.argv[1])
        if len(sys.argv) > 1
        else dict(d_model=256, encoder_layers=3, decoder_layers=3, num_heads=4, d_ff=1024)
    )
    print(json.dumps(measure(shape)))
