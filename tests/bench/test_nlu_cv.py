"""The folds of ``bench/nlu.py``'s cross-validation: fixed, stratified, complete.

Two pipelines are only comparable on the same folds, so the split must not depend on
anything but the data and the seed; and a fold written out must hold what Rasa needs
(the examples with their entity markup, plus the synonym, lookup and regex blocks).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench.nlu_cv import Sample, read_training, stratified_folds, write_nlu


def test_folds_are_fixed_stratified_and_complete() -> None:
    samples, _ = read_training()
    first = stratified_folds(samples, 5)
    assert first == stratified_folds(samples, 5)
    assert first != stratified_folds(samples, 5, seed=15)
    sizes = Counter(first)
    assert set(sizes) == {0, 1, 2, 3, 4}
    assert max(sizes.values()) - min(sizes.values()) <= 1
    for intent in {s.intent for s in samples}:
        per_fold = Counter(f for s, f in zip(samples, first, strict=True) if s.intent == intent)
        assert max(per_fold.values()) - min(per_fold.values(), default=0) <= 1


def test_a_written_fold_reads_back_with_markup_and_extras(tmp_path: Path) -> None:
    samples, extras = read_training()
    assert any(e.get("regex") for e in extras) and any(e.get("synonym") for e in extras)
    marked = [s for s in samples if "](" in s.line][:3]
    assert marked
    chosen = [*marked, Sample("🦄🦄", "nlu_fallback")]
    write_nlu(tmp_path / "nlu.yml", chosen, extras)
    again, extras_again = read_training(tmp_path)
    assert again == chosen
    assert extras_again == extras
    assert all("[" not in s.text for s in chosen)
