"""The held-out set (eval/heldout/) stays a fair judge: apart from the training data.

bench/nlu.py measures the model on eval/heldout/*.yml. A held-out sentence copied into
nlu_data/ would make that figure a memory test, so this fails on any overlap (after
lower-casing, entity markup removal and whitespace folding), and checks the set is
what issue 14 asks for: at least 400 messages, both languages, domain intents only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "eval" / "heldout"
ENTITY = re.compile(r"\[([^\]]*)\](\{[^}]*\}|\([^)]*\))")


def normalised(text: str) -> str:
    """The sentence as a model sees it: no entity markup, case, spacing or end marks."""
    folded = " ".join(ENTITY.sub(r"\1", text).casefold().split())
    return folded.strip(" ?!.") or folded  # "...." stays itself, not ""


def examples(path: Path) -> Iterator[tuple[str, str]]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block.get("examples") or "").splitlines():
            if line.strip().startswith("- "):
                yield str(block["intent"]), line.strip()[2:]


def domain_intents() -> set[str]:
    paths = [ROOT / "bot" / "domain.yml"] if (ROOT / "bot" / "domain.yml").exists() else []
    paths += sorted((ROOT / "bot" / "domain").glob("*.yml"))
    intents: set[str] = set()
    for path in paths:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        intents.update(str(i) for i in data.get("intents") or [])
    return intents


def test_no_heldout_sentence_is_training_data() -> None:
    training = {
        normalised(text)
        for path in (ROOT / "nlu_data").rglob("*.yml")
        for _, text in examples(path)
    }
    leaked = [
        f"{path.name}: {text}"
        for path in sorted(HELDOUT.glob("*.yml"))
        for _, text in examples(path)
        if normalised(text) in training
    ]
    assert leaked == []


def test_heldout_set_is_large_bilingual_and_uses_domain_intents() -> None:
    by_language = {path.stem: list(examples(path)) for path in sorted(HELDOUT.glob("*.yml"))}
    assert set(by_language) == {"it", "en"}
    assert sum(len(rows) for rows in by_language.values()) >= 400
    assert all(len(rows) >= 150 for rows in by_language.values())
    labels = {intent for rows in by_language.values() for intent, _ in rows}
    assert labels <= domain_intents()
    assert {"request_consultant", "nlu_fallback", "out_of_scope"} <= labels


def test_heldout_sentences_are_unique() -> None:
    texts = [t.casefold() for p in sorted(HELDOUT.glob("*.yml")) for _, t in examples(p)]
    duplicates = sorted({t for t in texts if texts.count(t) > 1})
    assert duplicates == []
