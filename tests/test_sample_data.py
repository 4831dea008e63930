"""The embedded English-French sample: well-formed, reproducible, and grammatical spot-checks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_sample_data.py"
SAMPLE = ROOT / "src" / "seq2seq_bench" / "data" / "sample" / "en_fr.tsv"


def load_script() -> ModuleType:
    """Import scripts/make_sample_data.py by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_sample_data", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pairs() -> dict[str, str]:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t") for line in lines)


def test_file_exists() -> None:
    assert SAMPLE.is_file()


def test_pair_count_in_range(pairs: dict[str, str]) -> None:
    assert 4000 <= len(pairs) <= 8000


def test_lines_are_two_clean_fields() -> None:
    for number, line in enumerate(SAMPLE.read_text(encoding="utf-8").split("\n")[:-1], 1):
        fields = line.split("\t")
        assert len(fields) == 2, f"line {number}: {line!r}"
        for field in fields:
            assert field and field == field.strip(), f"line {number}: {line!r}"


def test_no_duplicate_sources() -> None:
    sources = [line.split("\t")[0] for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert len(sources) == len(set(sources))


def test_no_non_breaking_spaces() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    assert "\u00a0" not in text and "\u202f" not in text


def test_generator_reproduces_shipped_file(tmp_path: Path) -> None:
    out = tmp_path / "en_fr.tsv"
    load_script().main(["--out", str(out)])
    assert out.read_bytes() == SAMPLE.read_bytes()


@pytest.mark.parametrize(
    ("en", "fr"),
    [
        ("Good morning.", "Bonjour."),  # fixed phrase
        ("Thank you very much.", "Merci beaucoup."),
    ],
)
def test_fixed_phrases_present(pairs: dict[str, str], en: str, fr: str) -> None:
    assert pairs[en] == fr


def test_spot_checks_of_generated_grammar() -> None:
    """Templates produce known-correct French (checked on all combinations, not the sample)."""
    script = load_script()
    generated: dict[str, str] = {}
    for template, _quota in script.TEMPLATES:
        generated.update(template(script.random.Random(0)))
    expected = {
        "I like apples.": "J'aime les pommes.",  # elision, definite plural
        "The man is at the hospital.": "L'homme est à l'hôpital.",  # mute h
        "The small cat is black.": "Le petit chat est noir.",
        "The small cars are red.": "Les petites voitures sont rouges.",  # agreement
        "The water is cold.": "L'eau est froide.",
        "He doesn't drink water.": "Il ne boit pas d'eau.",  # negation + d'
        "I don't have an umbrella.": "Je n'ai pas de parapluie.",
        "He doesn't eat bread.": "Il ne mange pas de pain.",
        "Where is the station?": "Où est la gare ?",  # space before ?
        "The book is on the table.": "Le livre est sur la table.",
        "The key is next to the bed.": "La clé est à côté du lit.",  # de + le
        "We go to the market.": "Nous allons au marché.",  # à + le
        "She talks to the children.": "Elle parle aux enfants.",  # à + les
        "We eat apples.": "Nous mangeons des pommes.",
        "Open the door.": "Ouvrez la porte.",
        "Don't open the window.": "N'ouvrez pas la fenêtre.",
        "My school is big.": "Mon école est grande.",  # mon before a feminine vowel
        "I have three dogs.": "J'ai trois chiens.",
    }
    for en, fr in expected.items():
        assert generated.get(en) == fr, en


def test_shipped_pairs_are_capitalised_and_punctuated(pairs: dict[str, str]) -> None:
    for en, fr in pairs.items():
        assert en[0].isupper() and fr[0].isupper(), en
        assert en[-1] in ".?!" and fr[-1] in ".?!", en
        if fr[-1] in "?!":
            assert fr[-2] == " ", fr
        assert 2 <= len(en.split()) <= 12, en
