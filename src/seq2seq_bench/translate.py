"""`s2s-translate ckpt=<run dir | exported dir | .ckpt> [input=file|-] [output=file|-]`

Reads one sentence a line, writes one translation a line in the same order (an empty
line gives an empty line), with any strategy of the `decoding:` block. With
``scores=true`` or ``decoding.nbest>1`` each output line is
``<input line index> ||| <hypothesis> ||| <score>``, n-best lists best first (the Moses
n-best format). Nothing but translations is written to stdout, so the tool composes in
pipes; progress and warnings go to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from seq2seq_bench.checkpoint import load
from seq2seq_bench.cli import (
    CONF_DIR,
    inference_model,
    quiet_transformers,
    read_lines,
    require,
    show_progress,
    user_errors,
)
from seq2seq_bench.decoding import Decoding, Hypothesis, translate


def format_lines(results: list[list[Hypothesis]], with_scores: bool) -> list[str]:
    if not with_scores:
        return [hyps[0].text for hyps in results]
    return [f"{i} ||| {h.text} ||| {h.score:.4f}" for i, hyps in enumerate(results) for h in hyps]


def run(cfg: DictConfig) -> None:
    require(cfg, "ckpt")
    decoding = Decoding.from_dict(OmegaConf.to_container(cfg.decoding, resolve=True))
    loaded = load(cfg.ckpt, cfg.weights)  # before reading stdin: a bad path fails at once
    model = inference_model(loaded.model, loaded.tokenizers, cfg)
    lines = read_lines(str(cfg.input))
    with_scores = bool(cfg.scores) or decoding.nbest > 1
    results = translate(
        model,
        loaded.tokenizers,
        lines,
        decoding,
        prefix=loaded.prefix if cfg.prefix is None else str(cfg.prefix),
        max_source_tokens=loaded.max_source_tokens,
        batch_size=cfg.batch_size,
        max_tokens=cfg.max_tokens,
        scores=with_scores,
        progress=show_progress(cfg.progress, len(lines)),
    )
    text = "".join(f"{line}\n" for line in format_lines(results, with_scores))
    if cfg.output == "-":
        sys.stdout.buffer.write(text.encode("utf-8"))  # UTF-8 whatever the locale says
        sys.stdout.flush()
    else:
        Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.output).write_text(text, encoding="utf-8")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="translate")
def main(cfg: DictConfig) -> None:
    quiet_transformers()
    with user_errors("s2s-translate"):
        run(cfg)


if __name__ == "__main__":
    main()
