#!/usr/bin/env bash
# `make test-oldest`: a venv ($1) with every direct dependency at its pyproject lower bound
# (uv's lowest-direct resolution; pip has none) and torch from TORCH_SPEC ($2).
set -euo pipefail
venv=$1 torch_spec=$2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q uv $torch_spec
uv="$venv/bin/uv"
"$uv" pip compile pyproject.toml --extra all --extra dev --resolution lowest-direct \
  --python "$venv/bin/python" --find-links "${PIP_FIND_LINKS:-/dev/null}" \
  --no-header --no-annotate -q -o "$venv/oldest.txt"
grep -v -E '^(torch|triton|nvidia-.*|cuda-.*)==' "$venv/oldest.txt" >"$venv/oldest-no-torch.txt"
"$uv" pip install -q --python "$venv/bin/python" -r "$venv/oldest-no-torch.txt"
"$uv" pip install -q --python "$venv/bin/python" --no-deps -e .
echo "oldest environment in $venv:"
grep -E '^(transformers|tokenizers|lightning|datasets|sacrebleu|pandas|peft|hydra-core)==' "$venv/oldest.txt"
