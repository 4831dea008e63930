"""Generate the embedded English-French sample data set (``data/sample/en_fr.tsv``).

New users train on this file with no download, so it must be small, correct and ours
(MIT, written for this project). Sentences are composed from hand-written bilingual
lexicons (the word lists in `scripts/sample_lexicon/*.tsv`: nouns, adjectives, verbs,
fixed phrases) and the grammar templates below; every noun is tagged with categories so that a verb or
an adjective only meets nouns it makes sense with. French grammar (gender, number,
articles, elision, contraction, agreement, adjective position, conjugation, negation)
is handled explicitly; templates that would need rules not handled here are left out.

The output is deterministic (fixed seed, ordered lexicons, pure standard library):
``python scripts/make_sample_data.py [--out PATH]``.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

SEED = 20240611
DEFAULT_OUT = (
    Path(__file__).resolve().parents[1] / "src" / "seq2seq_bench" / "data" / "sample" / "en_fr.tsv"
)
MAX_WORDS = 12
LEXICON = Path(__file__).resolve().parent / "sample_lexicon"  # the word lists, as TSV

Pair = tuple[str, str]

# --------------------------------------------------------------------------------------
# Spelling helpers: elision, contraction, a/an, capitals and punctuation.
# --------------------------------------------------------------------------------------

FR_VOWELS = "aeiouàâäéèêëîïôöûùüœæ"
# Words starting with a mute h (elision applies). Every h-word in the lexicon must be here
# or in FR_ASPIRATED_H, so that an added word cannot silently get the wrong article.
FR_MUTE_H = {"homme", "hommes", "hôpital", "hôpitaux", "hôtel", "hôtels", "huile", "horloge"}
FR_ASPIRATED_H: set[str] = set()
FR_ELIDABLE = {"je", "le", "la", "ne", "de", "que", "me", "te", "se"}
FR_CONTRACTIONS = (("à le", "au"), ("à les", "aux"), ("de le", "du"), ("de les", "des"))

EN_AN_EXCEPTIONS = {"hour": "an", "honest": "an", "university": "a", "uniform": "a"}


def fr_vowel_initial(word: str) -> bool:
    """True when a French word takes elision (vowel or mute h)."""
    low = word.lower().rstrip(",.")
    if low.startswith("h"):
        if low not in FR_MUTE_H and low not in FR_ASPIRATED_H:
            raise ValueError(f"unknown h-word {word!r}: add it to FR_MUTE_H or FR_ASPIRATED_H")
        return low in FR_MUTE_H
    return low[:1] in FR_VOWELS


def en_indefinite(next_word: str) -> str:
    """'a' or 'an' for the English word that follows."""
    low = next_word.lower()
    if low in EN_AN_EXCEPTIONS:
        return EN_AN_EXCEPTIONS[low]
    return "an" if low[:1] in "aeiou" else "a"


def polish_fr(words: Iterable[str]) -> str:
    """Join French words, applying elision (le arbre -> l'arbre) then contraction (à le -> au)."""
    tokens = " ".join(words).split()
    out: list[str] = []
    glue = False
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        piece = token
        elide = token in FR_ELIDABLE and nxt and fr_vowel_initial(nxt)
        if elide:
            piece = token[:-1] + "'"
        out.append(piece if glue or not out else " " + piece)
        glue = bool(elide)
    text = "".join(out)
    for full, short in FR_CONTRACTIONS:
        text = re.sub(rf"(?<![\w']){full}(?= )", short, text)
    return text


def finish(text: str, mark: str, french: bool) -> str:
    """Capitalise the first letter and add final punctuation (French: space before ? ! : ;)."""
    text = text[0].upper() + text[1:]
    if french and mark in "?!:;":
        return f"{text} {mark}"
    return text + mark


def pair(en_words: Iterable[str], fr_words: Iterable[str], mark: str = ".") -> Pair:
    """One finished sentence pair from word lists."""
    en = " ".join(" ".join(en_words).split())
    fr = polish_fr(fr_words)
    return finish(en, mark, french=False), finish(fr, mark, french=True)


# --------------------------------------------------------------------------------------
# Lexicon: nouns, adjectives, verbs, subjects.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Noun:
    """A bilingual noun; ``tags`` decide which verbs, adjectives and places it can meet."""

    en: str
    fr: str
    gender: str  # "m" or "f"
    tags: tuple[str, ...]
    en_pl: str = ""
    fr_pl: str = ""
    mass: bool = False  # uncountable: "bread" / "du pain", never "a bread"

    @property
    def plural_en(self) -> str:
        return self.en_pl or self.en + "s"

    @property
    def plural_fr(self) -> str:
        if self.fr_pl:
            return self.fr_pl
        return self.fr if self.fr[-1] in "sxz" else self.fr + "s"

    def has(self, *tags: str) -> bool:
        return any(tag in self.tags for tag in tags)


def read(name: str) -> list[dict[str, str]]:
    """The rows of ``sample_lexicon/<name>.tsv``; lines starting with # are comments."""
    with open(LEXICON / f"{name}.tsv", encoding="utf-8", newline="") as f:
        rows = [line for line in f if not line.startswith("#")]
    return list(csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE))


def yes(value: str) -> bool:
    if value not in ("yes", "no"):
        raise ValueError(f"expected yes or no, got {value!r}")
    return value == "yes"


def read_nouns() -> list[Noun]:
    """Tags: "pet" can be owned and put on a table, "farm" can be owned, mass nouns take
    du/de la/de l'; see the comments in nouns.tsv."""
    return [
        Noun(
            r["en"],
            r["fr"],
            r["gender"],
            tuple(r["tags"].split()),
            r["en_plural"],
            r["fr_plural"],
            mass=yes(r["mass"]),
        )
        for r in read("nouns")
    ]


NOUNS: tuple[Noun, ...] = tuple(read_nouns())

NOUN = {noun.en: noun for noun in NOUNS}


def nouns(*tags: str, mass: bool | None = None) -> list[Noun]:
    """Nouns carrying any of ``tags`` (optionally only mass or only countable)."""
    return [n for n in NOUNS if n.has(*tags) and (mass is None or n.mass == mass)]


@dataclass(frozen=True)
class Adjective:
    """A bilingual adjective with its four French forms and where it may be used."""

    en: str
    forms: tuple[str, str, str, str]  # masc sg, fem sg, masc pl, fem pl
    pre: bool  # placed before the noun (petit chat) rather than after (chat noir)
    tags: tuple[str, ...]  # noun tags it makes sense with
    group: str  # two adjectives of one group never describe the same noun (small/big)
    attributive: bool = True  # False: only after "is" ("the man is tall", not "a tall man")
    predicative: bool = True  # False: never after "is" (French says "la montre est neuve")

    def fr(self, gender: str, plural: bool) -> str:
        return self.forms[(2 if plural else 0) + (1 if gender == "f" else 0)]

    def fits(self, noun: Noun) -> bool:
        return noun.has(*self.tags)


def A(
    en: str,
    masc: str,
    tags: str,
    group: str,
    fem: str = "",
    masc_pl: str = "",
    fem_pl: str = "",
    pre: bool = False,
    attributive: bool = True,
    predicative: bool = True,
) -> Adjective:
    """Adjective with regular French forms unless given (noir/noire/noirs/noires)."""
    fem = fem or (masc if masc.endswith("e") else masc + "e")
    masc_pl = masc_pl or (masc if masc[-1] in "sx" else masc + "s")
    fem_pl = fem_pl or fem + "s"
    forms = (masc, fem, masc_pl, fem_pl)
    return Adjective(en, forms, pre, tuple(tags.split()), group, attributive, predicative)


def read_adjectives() -> list[Adjective]:
    """Colours only go with things that plausibly come in any colour (adjectives.tsv)."""
    return [
        A(
            r["en"],
            r["fr_masc"],
            r["noun_tags"],
            r["group"],
            r["fr_fem"],
            r["fr_masc_plural"],
            r["fr_fem_plural"],
            pre=yes(r["before_noun"]),
            attributive=yes(r["attributive"]),
            predicative=yes(r["predicative"]),
        )
        for r in read("adjectives")
    ]


ADJECTIVES: tuple[Adjective, ...] = tuple(read_adjectives())
ADJ = {adj.en: adj for adj in ADJECTIVES}
# French writes bel/vieil/nouvel before a vowel; we simply avoid those combinations.
SPECIAL_BEFORE_VOWEL = {"beau", "vieux", "nouveau"}


def adjective_ok(adj: Adjective, noun: Noun, attributive: bool) -> bool:
    """Whether ``adj`` may describe ``noun`` (attributively: 'a red car', or after 'is')."""
    if not adj.fits(noun):
        return False
    if not attributive and not adj.predicative:
        return False
    if attributive:
        if not adj.attributive:
            return False
        if adj.forms[0] in SPECIAL_BEFORE_VOWEL and fr_vowel_initial(noun.fr):
            return False
    return True


# --------------------------------------------------------------------------------------
# Noun phrases.
# --------------------------------------------------------------------------------------

FR_DEF = {("m", False): "le", ("f", False): "la", ("m", True): "les", ("f", True): "les"}
FR_INDEF = {("m", False): "un", ("f", False): "une", ("m", True): "des", ("f", True): "des"}


def fr_core(noun: Noun, plural: bool, adj: Adjective | None = None) -> list[str]:
    """French noun with its adjective in the right place and agreeing."""
    word = noun.plural_fr if plural else noun.fr
    if adj is None:
        return [word]
    form = adj.fr(noun.gender, plural)
    return [form, word] if adj.pre else [word, form]


def en_core(noun: Noun, plural: bool, adj: Adjective | None = None) -> list[str]:
    word = noun.plural_en if plural else noun.en
    return [adj.en, word] if adj else [word]


def np(noun: Noun, det: str, adj: Adjective | None = None) -> tuple[list[str], list[str]]:
    """English and French noun phrase for a determiner kind.

    ``det``: def ("the cat"/"le chat"), indef ("a cat"/"un chat"), pl_def ("the cats"/
    "les chats"), pl_indef ("cats"/"des chats"), part (mass: "bread"/"du pain"),
    neg (after a negated verb: "a cat"/"de chat", "bread"/"de pain").
    """
    plural = det.startswith("pl_")
    en, fr = en_core(noun, plural, adj), fr_core(noun, plural, adj)
    key = (noun.gender, plural)
    if det in ("def", "pl_def"):
        return ["the", *en], [FR_DEF[key], *fr]
    if det == "indef":
        return [en_indefinite(en[0]), *en], [FR_INDEF[key], *fr]
    if det == "pl_indef":
        if adj is not None and adj.pre:
            raise ValueError("des + pre-noun adjective becomes de: not generated")
        return en, ["des", *fr]
    if det == "part":
        return en, ["de", FR_DEF[key], *fr]
    if det == "neg":
        return ([en_indefinite(en[0]), *en] if not noun.mass else en), ["de", *fr]
    if det == "neg_pl":  # "I don't eat apples." / "Je ne mange pas de pommes."
        return en_core(noun, True, adj), ["de", *fr_core(noun, True, adj)]
    raise ValueError(det)


POSSESSIVES = {
    # English: (French masc sg, fem sg, plural), or several choices (tu/vous)
    "my": [("mon", "ma", "mes")],
    "your": [("ton", "ta", "tes"), ("votre", "votre", "vos")],
    "his": [("son", "sa", "ses")],
    "her": [("son", "sa", "ses")],
    "our": [("notre", "notre", "nos")],
    "their": [("leur", "leur", "leurs")],
}


def possessive_np(
    rng: random.Random, owner: str, noun: Noun, plural: bool, adj: Adjective | None = None
) -> tuple[list[str], list[str]]:
    """'my cat' / 'mon chat'; 'ma' becomes 'mon' before a vowel ('mon école')."""
    masc, fem, pl = rng.choice(POSSESSIVES[owner])
    fr = fr_core(noun, plural, adj)
    if plural:
        det = pl
    elif noun.gender == "f" and not fr_vowel_initial(fr[0]):
        det = fem
    else:
        det = masc
    return [owner, *en_core(noun, plural, adj)], [det, *fr]


# --------------------------------------------------------------------------------------
# Verbs and subjects.
# --------------------------------------------------------------------------------------


def er(infinitive: str) -> tuple[str, ...]:
    """Present tense of a regular -er verb (je, tu, il, nous, vous, ils); mangeons keeps the e."""
    stem = infinitive[:-2]
    nous = stem + ("e" if stem.endswith("g") else "") + "ons"
    return (stem + "e", stem + "es", stem + "e", nous, stem + "ez", stem + "ent")


def table(forms: str) -> tuple[str, ...]:
    """Irregular present tense from 'je tu il nous vous ils' forms."""
    result = tuple(forms.split())
    assert len(result) == 6, forms
    return result


ETRE = table("suis es est sommes êtes sont")
AVOIR = table("ai as a avons avez ont")
ALLER = table("vais vas va allons allez vont")
VOULOIR = table("veux veux veut voulons voulez veulent")
POUVOIR = table("peux peux peut pouvons pouvez peuvent")
AIMER, ADORER, PARLER = er("aimer"), er("adorer"), er("parler")


def pick(include: str, exclude: str = "", names: str = "") -> tuple[Noun, ...]:
    """Nouns with a tag of ``include``, minus tags or English nouns in ``exclude``, plus ``names``.

    ``names`` is comma-separated because some nouns have spaces ("orange juice").
    """
    out = exclude.split()
    chosen = [n for n in NOUNS if n.has(*include.split()) and not n.has(*out) and n.en not in out]
    chosen += [NOUN[name] for name in names.split(",") if name and NOUN[name] not in chosen]
    return tuple(chosen)


@dataclass(frozen=True)
class Verb:
    """A transitive verb, the nouns it takes as object, and the determiners it allows."""

    en: str  # base form, particle included ("look at")
    en3: str  # third person singular ("looks at")
    inf: str  # French infinitive
    fr: tuple[str, ...]  # present: je tu il nous vous ils
    objects: tuple[Noun, ...]
    dets: tuple[str, ...] = ("def", "indef", "pl_indef", "pl_def")  # for countable objects
    mass_dets: tuple[str, ...] = ("part", "def")  # for mass objects
    negatable: bool = False  # "I don't eat a cake" is odd for most verbs; "de" cases only
    imperative: bool = True  # "Open the door." / "Ouvrez la porte."

    def dets_for(self, noun: Noun) -> tuple[str, ...]:
        return self.mass_dets if noun.mass else self.dets


def read_verbs() -> list[Verb]:
    """fr_present: `er` for a regular -er verb, else its six present forms."""
    return [
        Verb(
            r["en"],
            r["en_3rd"],
            r["fr_infinitive"],
            er(r["fr_infinitive"]) if r["fr_present"] == "er" else table(r["fr_present"]),
            pick(r["object_tags"], r["object_exclude"], r["object_names"]),
            dets=tuple(r["determiners"].split()),
            mass_dets=tuple(r["mass_determiners"].split()),
            negatable=yes(r["negatable"]),
            imperative=yes(r["imperative"]),
        )
        for r in read("verbs")
    ]


VERBS: tuple[Verb, ...] = tuple(read_verbs())
VERB = {verb.en: verb for verb in VERBS}


@dataclass(frozen=True)
class Subject:
    """A subject pronoun in both languages; ``person`` indexes the French conjugation."""

    en: str
    fr: str
    person: int  # 0 je, 1 tu, 2 il/elle, 3 nous, 4 vous, 5 ils/elles
    gender: str
    plural: bool

    @property
    def third_singular(self) -> bool:
        return self.en in ("he", "she")


def subjects(rng: random.Random) -> list[Subject]:
    """The seven English pronouns; 'you' and 'they' get a French form drawn at random."""
    you = rng.choice([Subject("you", "tu", 1, "m", False), Subject("you", "vous", 4, "m", True)])
    they = rng.choice(
        [Subject("they", "ils", 5, "m", True), Subject("they", "elles", 5, "f", True)]
    )
    return [
        Subject("I", "je", 0, "m", False),
        you,
        Subject("he", "il", 2, "m", False),
        Subject("she", "elle", 2, "f", False),
        Subject("we", "nous", 3, "m", True),
        they,
    ]


def en_verb(subject: Subject, verb: Verb) -> str:
    return verb.en3 if subject.third_singular else verb.en


def en_be(subject: Subject) -> str:
    return {"I": "am", "he": "is", "she": "is"}.get(subject.en, "are")


def en_dont(subject: Subject) -> str:
    return "doesn't" if subject.third_singular else "don't"


# --------------------------------------------------------------------------------------
# Templates. Each returns every sensible combination; main() samples a quota of each.
# --------------------------------------------------------------------------------------

ALL_PLACES = pick("place")
BE_PL = {False: ("is", "est"), True: ("are", "sont")}


def numbers_for(noun: Noun) -> tuple[bool, ...]:
    """Singular, and plural too for countable nouns ("my mothers" is not one of them)."""
    return (False,) if noun.mass or noun.has("unique") else (False, True)


def describe(rng: random.Random) -> list[Pair]:
    """'The small cat is black.' -> 'Le petit chat est noir.' (plural too)."""
    out = []
    for noun in pick("animal object plant place person food drink"):
        for first in [None, *ADJECTIVES]:
            if first is not None and not (first.pre and adjective_ok(first, noun, True)):
                continue
            for second in ADJECTIVES:
                if not adjective_ok(second, noun, False):
                    continue
                if first is not None and first.group == second.group:
                    continue
                for plural in numbers_for(noun):
                    en, fr = np(noun, "pl_def" if plural else "def", first)
                    be_en, be_fr = BE_PL[plural]
                    form = second.fr(noun.gender, plural)
                    out.append(pair([*en, be_en, second.en], [*fr, be_fr, form]))
    return out


# Where small things can be: (English, French, nouns that serve as the reference point).
RELATIONS: tuple[tuple[str, str, tuple[Noun, ...]], ...] = (
    ("on", "sur", pick("surface")),
    ("under", "sous", pick("surface", names="car,tree")),
    ("in", "dans", pick("holder room", exclude="street forest")),
    ("next to", "à côté de", pick("furniture fixture", names="tree,computer,phone")),
    ("behind", "derrière", pick("fixture", names="tree,house")),
    ("in front of", "devant", pick("fixture", names="house,station,school,church")),
)
LOCATED = pick("small pet", exclude="fish flower")


def location(rng: random.Random) -> list[Pair]:
    """'The book is on the table.' -> 'Le livre est sur la table.'"""
    out = []
    for thing in LOCATED:
        for en_prep, fr_prep, refs in RELATIONS:
            for ref in refs:
                if ref == thing:
                    continue
                for plural in numbers_for(thing):
                    en, fr = np(thing, "pl_def" if plural else "def")
                    ref_en, ref_fr = np(ref, "def")
                    be_en, be_fr = BE_PL[plural]
                    out.append(pair([*en, be_en, en_prep, *ref_en], [*fr, be_fr, fr_prep, *ref_fr]))
    return out


def there_is(rng: random.Random) -> list[Pair]:
    """'There is a cat under the table.' -> 'Il y a un chat sous la table.'"""
    out = []
    for thing in LOCATED:
        for en_prep, fr_prep, refs in RELATIONS:
            for ref in refs:
                if ref == thing:
                    continue
                en, fr = np(thing, "part" if thing.mass else "indef")
                if thing.mass:
                    en = ["some", *en]
                ref_en, ref_fr = np(ref, "def")
                out.append(
                    pair(["there", "is", *en, en_prep, *ref_en], ["il y a", *fr, fr_prep, *ref_fr])
                )
    return out


OWNABLE = pick("pet farm small vehicle clothing", exclude="letter ticket")


def possession(rng: random.Random) -> list[Pair]:
    """'I have a red car.' -> 'J'ai une voiture rouge.'"""
    out = []
    for subject in subjects(rng):
        for noun in [*OWNABLE, *pick("family")]:
            adjs = [None]
            if not noun.has("family"):
                adjs += [a for a in ADJECTIVES if adjective_ok(a, noun, True)]
            for adj in adjs:
                en, fr = np(noun, "indef", adj)
                have = "has" if subject.third_singular else "have"
                out.append(pair([subject.en, have, *en], [subject.fr, AVOIR[subject.person], *fr]))
    return out


LIKEABLE = pick("food drink animal", exclude="grocery")


def likes(rng: random.Random) -> list[Pair]:
    """'I like apples.' -> 'J'aime les pommes.' (general taste takes the definite article)."""
    out = []
    for subject in subjects(rng):
        for en_verb_base, fr_verb in (("like", AIMER), ("love", ADORER)):
            for noun in LIKEABLE:
                en, fr = np(noun, "def" if noun.mass else "pl_def")
                en = en[1:]  # English drops "the" for general statements
                verb = en_verb_base + "s" if subject.third_singular else en_verb_base
                out.append(
                    pair([subject.en, verb, *en], [subject.fr, fr_verb[subject.person], *fr])
                )
    return out


def negation(rng: random.Random) -> list[Pair]:
    """'I don't have a cat.' -> 'Je n'ai pas de chat.'; 'She doesn't like dogs.' -> '... les chiens.'"""
    out = []
    for subject in subjects(rng):
        for verb in VERBS:
            if not verb.negatable:
                continue
            for noun in verb.objects:
                singular = noun.mass or verb.en in ("have", "want")
                en, fr = np(noun, "neg" if singular else "neg_pl")
                out.append(
                    pair(
                        [subject.en, en_dont(subject), verb.en, *en],
                        [subject.fr, "ne", verb.fr[subject.person], "pas", *fr],
                    )
                )
        for noun in LIKEABLE:
            en, fr = np(noun, "def" if noun.mass else "pl_def")
            out.append(
                pair(
                    [subject.en, en_dont(subject), "like", *en[1:]],
                    [subject.fr, "ne", AIMER[subject.person], "pas", *fr],
                )
            )
    for noun in pick("openable", exclude="place"):
        for adj in (ADJ["open"], ADJ["closed"]):
            for plural in (False, True):
                en, fr = np(noun, "pl_def" if plural else "def")
                be_en, be_fr = BE_PL[plural]
                out.append(
                    pair(
                        [*en, be_en, "not", adj.en],
                        [*fr, "ne", be_fr, "pas", adj.fr(noun.gender, plural)],
                    )
                )
    return out


FINDABLE = pick("small pet person", exclude="letter")


def questions(rng: random.Random) -> list[Pair]:
    """'Where is the station?' -> 'Où est la gare ?' and yes/no questions with est-ce que."""
    out = []
    for noun in [*FINDABLE, *pick("go")]:
        for plural in numbers_for(noun) if not noun.has("place") else (False,):
            en, fr = np(noun, "pl_def" if plural else "def")
            be_en, be_fr = BE_PL[plural]
            out.append(pair(["where", be_en, *en], ["où", be_fr, *fr], "?"))
    for noun in [*OWNABLE, *pick("family")]:
        for owner in POSSESSIVES:
            for plural in numbers_for(noun):
                en, fr = possessive_np(rng, owner, noun, plural)
                be_en, be_fr = BE_PL[plural]
                out.append(pair(["where", be_en, *en], ["où", be_fr, *fr], "?"))
    for noun in OWNABLE:
        en, fr = np(noun, "indef")
        have = rng.choice(["as-tu", "avez-vous"])
        out.append(pair(["do", "you", "have", *en], [have, *fr], "?"))
    for noun in pick("animal object place food drink person"):
        for adj in ADJECTIVES:
            if adjective_ok(adj, noun, False):
                en, fr = np(noun, "def")
                out.append(
                    pair(
                        ["is", *en, adj.en],
                        ["est-ce que", *fr, "est", adj.fr(noun.gender, False)],
                        "?",
                    )
                )
    for verb in VERBS:
        if not verb.imperative:
            continue
        for noun in verb.objects:
            en, fr = np(noun, "def")
            can = rng.choice(["peux-tu", "pouvez-vous"])
            out.append(pair(["can", "you", verb.en, *en], [can, verb.inf, *fr], "?"))
    return out


NUMBERS = tuple(
    zip(
        "two three four five six seven eight nine ten".split(),
        "deux trois quatre cinq six sept huit neuf dix".split(),
        strict=True,
    )
)


def numbers(rng: random.Random) -> list[Pair]:
    """'I have three dogs.' -> 'J'ai trois chiens.'; 'There are five birds in the garden.'"""
    out = []
    subject_list = subjects(rng)
    for verb in (VERB["have"], VERB["see"], VERB["want"], VERB["buy"]):
        for noun in verb.objects:
            if noun.mass:
                continue
            fitting = [a for a in ADJECTIVES if adjective_ok(a, noun, True)]
            for subject in subject_list:
                for en_num, fr_num in NUMBERS:
                    for adj in [None, rng.choice(fitting)] if fitting else [None]:
                        out.append(
                            pair(
                                [
                                    subject.en,
                                    en_verb(subject, verb),
                                    en_num,
                                    *en_core(noun, True, adj),
                                ],
                                [
                                    subject.fr,
                                    verb.fr[subject.person],
                                    fr_num,
                                    *fr_core(noun, True, adj),
                                ],
                            )
                        )
    # Who plausibly is where: (nouns, [(English preposition, French one, place)]).
    scenes = (
        (pick("pet"), [("in", "dans", NOUN[p]) for p in ("garden", "kitchen", "bedroom", "shop")]),
        (pick("farm"), [("on", "à", NOUN["farm"]), ("in", "dans", NOUN["garden"])]),
        (pick("person"), [("in", "dans", NOUN[p]) for p in ("park", "garden", "shop", "street")]),
        (pick("plant"), [("in", "dans", NOUN[p]) for p in ("garden", "park", "forest")]),
    )
    for group, places in scenes:
        for noun in group:
            for en_num, fr_num in NUMBERS:
                en_prep, fr_prep, place = rng.choice(places)
                where_en, where_fr = np(place, "def")
                out.append(
                    pair(
                        ["there", "are", en_num, noun.plural_en, en_prep, *where_en],
                        ["il y a", fr_num, noun.plural_fr, fr_prep, *where_fr],
                    )
                )
    return out


NEGATIVE_COMMANDS = {"open", "close", "eat", "drink", "take", "wash", "read", "look at", "call"}


def imperatives(rng: random.Random) -> list[Pair]:
    """'Open the door.' -> 'Ouvrez la porte.' (vous form), negative and polite variants."""
    out = []
    for verb in VERBS:
        if not verb.imperative:
            continue
        for noun in verb.objects:
            for det in ("def", "pl_def") if "pl_def" in verb.dets and not noun.mass else ("def",):
                en, fr = np(noun, det)
                command = verb.fr[4]
                out.append(pair([verb.en, *en], [command, *fr]))
                if verb.en in NEGATIVE_COMMANDS:
                    out.append(pair(["don't", verb.en, *en], ["ne", command, "pas", *fr]))
                out.append(
                    pair(
                        [verb.en, *en[:-1], en[-1] + ",", "please"],
                        [command, *fr[:-1], fr[-1] + ",", "s'il vous plaît"],
                    )
                )
    return out


def actions(rng: random.Random) -> list[Pair]:
    """Subject-verb-object: 'She reads a book.' -> 'Elle lit un livre.'"""
    out = []
    for subject in subjects(rng):
        for verb in VERBS:
            for noun in verb.objects:
                for det in verb.dets_for(noun):
                    en, fr = np(noun, det)
                    out.append(
                        pair(
                            [subject.en, en_verb(subject, verb), *en],
                            [subject.fr, verb.fr[subject.person], *fr],
                        )
                    )
    return out


def modals(rng: random.Random) -> list[Pair]:
    """'I want to eat an apple.' -> 'Je veux manger une pomme.'; 'He can see the sea.'"""
    out = []
    for subject in subjects(rng):
        for verb in VERBS:
            if verb.en in ("have", "want"):
                continue
            for noun in verb.objects:
                det = rng.choice(verb.dets_for(noun))
                en, fr = np(noun, det)
                wants = "wants" if subject.third_singular else "want"
                out.append(
                    pair(
                        [subject.en, wants, "to", verb.en, *en],
                        [subject.fr, VOULOIR[subject.person], verb.inf, *fr],
                    )
                )
                out.append(
                    pair(
                        [subject.en, "can", verb.en, *en],
                        [subject.fr, POUVOIR[subject.person], verb.inf, *fr],
                    )
                )
    return out


def going(rng: random.Random) -> list[Pair]:
    """'I go to the station.' -> 'Je vais à la gare.' (au, à la, à l')."""
    out = []
    for subject in subjects(rng):
        for place in pick("go"):
            en, fr = np(place, "def")
            goes = "goes" if subject.third_singular else "go"
            out.append(
                pair([subject.en, goes, "to", *en], [subject.fr, ALLER[subject.person], "à", *fr])
            )
    return out


def talking(rng: random.Random) -> list[Pair]:
    """'I talk to the teacher.' -> 'Je parle au professeur.' (aux enfants, à l'homme)."""
    out = []
    for subject in subjects(rng):
        for person in pick("person"):
            for plural in (False, True):
                en, fr = np(person, "pl_def" if plural else "def")
                talks = "talks" if subject.third_singular else "talk"
                out.append(
                    pair(
                        [subject.en, talks, "to", *en],
                        [subject.fr, PARLER[subject.person], "à", *fr],
                    )
                )
    return out


def where_people_are(rng: random.Random) -> list[Pair]:
    """'My mother is at the market.' -> 'Ma mère est au marché.'"""
    out = []
    places = [(p, "at", "à") for p in pick("go", exclude="beach")] + [(NOUN["beach"], "on", "à")]
    places += [(p, "in", "dans") for p in pick("room", exclude="shop")]
    for person in [*pick("person"), *pick("family")]:
        for place, en_prep, fr_prep in places:
            if person.has("family"):
                plural = False
                who_en, who_fr = possessive_np(rng, rng.choice(list(POSSESSIVES)), person, False)
            else:
                plural = rng.random() < 0.3
                who_en, who_fr = np(person, "pl_def" if plural else "def")
            be_en, be_fr = BE_PL[plural]
            where_en, where_fr = np(place, "def")
            out.append(
                pair([*who_en, be_en, en_prep, *where_en], [*who_fr, be_fr, fr_prep, *where_fr])
            )
    return out


def owned_things(rng: random.Random) -> list[Pair]:
    """'My dog is small.' -> 'Mon chien est petit.'; 'mon école' before a vowel."""
    out = []
    homes = [NOUN[p] for p in ("house", "garden", "kitchen", "bedroom", "school", "shop")]
    for noun in [*OWNABLE, *pick("family"), *homes]:
        for owner in POSSESSIVES:
            for adj in ADJECTIVES:
                if not adjective_ok(adj, noun, False):
                    continue
                for plural in numbers_for(noun) if not noun.has("place") else (False,):
                    en, fr = possessive_np(rng, owner, noun, plural)
                    be_en, be_fr = BE_PL[plural]
                    out.append(
                        pair([*en, be_en, adj.en], [*fr, be_fr, adj.fr(noun.gender, plural)])
                    )
    return out


def states(rng: random.Random) -> list[Pair]:
    """'She is tired.' -> 'Elle est fatiguée.' (the adjective agrees with the pronoun)."""
    out = []
    for subject in subjects(rng):
        for adj in ADJECTIVES:
            if adj.group in ("mood",) or adj.en in ("tall", "young"):
                form = adj.fr(subject.gender, subject.plural)
                out.append(
                    pair(
                        [subject.en, en_be(subject), adj.en],
                        [subject.fr, ETRE[subject.person], form],
                    )
                )
                out.append(
                    pair(
                        [subject.en, en_be(subject), "not", adj.en],
                        [subject.fr, "ne", ETRE[subject.person], "pas", form],
                    )
                )
    return out


# --------------------------------------------------------------------------------------
# Everyday phrases, written by hand.
# --------------------------------------------------------------------------------------

PHRASES: tuple[Pair, ...] = tuple((row["en"], row["fr"]) for row in read("phrases"))


# --------------------------------------------------------------------------------------
# Assembly.
# --------------------------------------------------------------------------------------

# (template, how many combinations to draw from it before de-duplication)
TEMPLATES: tuple[tuple[Callable[[random.Random], list[Pair]], int], ...] = (
    (describe, 800),
    (location, 500),
    (there_is, 300),
    (possession, 500),
    (likes, 350),
    (negation, 550),
    (questions, 650),
    (numbers, 500),
    (imperatives, 300),
    (actions, 900),
    (modals, 500),
    (going, 120),
    (talking, 130),
    (where_people_are, 300),
    (owned_things, 450),
    (states, 120),
)


def word_count(text: str) -> int:
    """Words in a sentence, not counting a detached French ? or !."""
    return sum(1 for token in text.split() if token not in "?!:;")


def build() -> list[Pair]:
    """All pairs in their final order: phrases first, then each template's sample."""
    rng = random.Random(SEED)
    seen: set[str] = set()
    result: list[Pair] = []
    candidates: list[Pair] = list(PHRASES)
    for template, quota in TEMPLATES:
        pairs = template(rng)
        candidates += rng.sample(pairs, min(quota, len(pairs)))
    for en, fr in candidates:
        if en in seen or not 2 <= word_count(en) <= MAX_WORDS or word_count(fr) > MAX_WORDS:
            continue
        seen.add(en)
        result.append((en, fr))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="TSV file to write")
    args = parser.parse_args(argv)
    pairs = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for en, fr in pairs:
            f.write(f"{en}\t{fr}\n")
    print(f"wrote {len(pairs)} pairs to {args.out}")


if __name__ == "__main__":
    main()
