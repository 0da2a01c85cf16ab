"""How well the assistant's model understands shoppers: the held-out set and cross-validation.

The judge is eval/heldout/*.yml: shopper messages written the way people write on
WhatsApp and in the widget (typos, no accents, emoji, slang, mixed Italian and English),
labelled with the domain's intents, and never part of the training data (nlu_data/).
This benchmark

  1. parses every held-out message with the trained model (through Rasa's Python API in
     .venv-rasa, bench/rasa_nlu_parse.py) and prints per-intent precision, recall and F1,
     accuracy per language, the confusion pairs and the issue-14 targets, real messages
     understood and real messages sent to the fallback included;
  2. optionally replays the FallbackClassifier at other thresholds (``--sweep``) from the
     same parses, without retraining;
  3. cross-validates config.yml on 5 folds of nlu_data/ (bench/nlu_cv.py: fixed,
     stratified folds; per-intent F1, macro F1 mean ± sd; ``--no-cv`` skips it, it trains
     five models); ``--rasa-cv`` also runs ``rasa test nlu --cross-validation``;
  4. prints, as its last line, ``held-out accuracy: X %``.

``--compare CONFIG…`` instead trains config.yml and each CONFIG in full (timed, cold,
under the training lock), judges each on the held-out set, cross-validates all of them on
the same folds, and writes the tables to bench/results/nlu-compare.md. It takes about an
hour for two pipelines on a busy 2-core machine: run it with nohup.

    .venv/bin/python bench/nlu.py [--model models/vetrina.tar.gz] [--no-cv] [--sweep]
                                  [--save bench/results/nlu-after.json]
                                  [--baseline bench/results/nlu-before.json]
    .venv/bin/python bench/nlu.py --compare bench/configs/char-ngrams-1-5.yml

It is a benchmark, not a test: it reads a trained model and runs outside ``make test``
(tests/nlu/test_heldout_model.py is its fast guard in pytest).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.nlu_cv import SEED, PipelineScore, cross_validate, threshold_replay, train_full

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "eval" / "heldout"
RESULTS = ROOT / "bench" / "results"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
FALLBACK = "nlu_fallback"
PERSON = "request_consultant"
BOOKING_FAMILY = frozenset(
    {
        "book_try_on",
        "give_time",
        "choose_slot",
        "my_bookings",
        "cancel_booking",
        "reschedule_booking",
        "add_to_booking",
    }
)
TARGETS = {"overall": 95.0, "person": 98.0, "nonsense": 95.0, "booking_confusion": 2.0}


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    language: str


@dataclass(frozen=True)
class Parse:
    intent: str
    top: tuple[str, float]
    second: tuple[str, float]


def read_heldout(folder: Path = HELDOUT) -> list[Example]:
    """Every labelled message of eval/heldout/<language>.yml (Rasa's NLU YAML format)."""
    examples: list[Example] = []
    for path in sorted(folder.glob("*.yml")):
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        for block in data.get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                text = line.strip()
                if text.startswith("- "):
                    examples.append(Example(text[2:].strip(), str(block["intent"]), path.stem))
    return examples


def parse_all(model: Path, texts: Sequence[str]) -> list[Parse]:
    """The model's reading of each text, through bench/rasa_nlu_parse.py in .venv-rasa."""
    result = subprocess.run(
        [str(RASA_PYTHON), str(ROOT / "bench" / "rasa_nlu_parse.py"), str(model)],
        input="".join(f"{t}\n" for t in texts),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or len(rows) != len(texts):
        raise SystemExit(f"parsing failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return [
        Parse(r["intent"], (r["top"][0], r["top"][1]), (r["second"][0], r["second"][1]))
        for r in rows
    ]


def with_threshold(parse: Parse, threshold: float, ambiguity: float) -> str:
    """What the FallbackClassifier would say at another threshold."""
    (top, confidence), (_, runner_up) = parse.top, parse.second
    if confidence < threshold or confidence - runner_up < ambiguity:
        return FALLBACK
    return top


def percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def per_intent(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per gold or predicted intent."""
    report: dict[str, dict[str, float]] = {}
    for intent in sorted(set(gold) | set(predicted)):
        hits = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == intent)
        said = sum(1 for p in predicted if p == intent)
        support = sum(1 for g in gold if g == intent)
        precision = hits / said if said else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[intent] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return report


def booking_confusion(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Per booking intent: % of its messages read as another booking intent."""
    rates: dict[str, float] = {}
    for intent in sorted(BOOKING_FAMILY & set(gold)):
        pairs = [(g, p) for g, p in zip(gold, predicted, strict=True) if g == intent]
        wrong = sum(1 for _, p in pairs if p in BOOKING_FAMILY and p != intent)
        rates[intent] = percent(wrong, len(pairs))
    return rates


def summary(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """The four issue-14 figures for one set of predictions."""

    def recall_of(intent: str) -> float:
        pairs = [p for g, p in zip(gold, predicted, strict=True) if g == intent]
        return percent(sum(1 for p in pairs if p == intent), len(pairs))

    confusion = booking_confusion(gold, predicted)
    real = [(g, p) for g, p in zip(gold, predicted, strict=True) if g != FALLBACK]
    return {
        "overall": percent(
            sum(1 for g, p in zip(gold, predicted, strict=True) if g == p), len(gold)
        ),
        "person": recall_of(PERSON),
        "nonsense": recall_of(FALLBACK),
        "booking_confusion": max(confusion.values(), default=0.0),
        "false_fallback": percent(sum(1 for _, p in real if p == FALLBACK), len(real)),
        "real": percent(sum(1 for g, p in real if g == p), len(real)),
    }


def print_report(
    examples: Sequence[Example], predicted: Sequence[str], baseline: dict[str, Any] | None
) -> dict[str, Any]:
    gold = [e.intent for e in examples]
    report = per_intent(gold, predicted)
    before = (baseline or {}).get("per_intent", {})
    print(f"\nHeld-out set: {len(examples)} messages ({HELDOUT.relative_to(ROOT)})\n")
    head = f"{'intent':<22}{'support':>8}{'precision':>10}{'recall':>8}{'F1':>7}"
    print(head + ("   F1 before" if before else ""))
    for intent, row in report.items():
        line = (
            f"{intent:<22}{int(row['support']):>8}{row['precision']:>10.2f}"
            f"{row['recall']:>8.2f}{row['f1']:>7.2f}"
        )
        if before:
            old = before.get(intent)
            line += f"   {old['f1']:.2f}" if old else "   -"
        print(line)
    for language in sorted({e.language for e in examples}):
        pairs = [
            (e.intent, p)
            for e, p in zip(examples, predicted, strict=True)
            if e.language == language
        ]
        hits = sum(1 for g, p in pairs if g == p)
        print(f"accuracy {language}: {percent(hits, len(pairs)):.1f} % ({hits}/{len(pairs)})")
    confused = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    print("\nConfusion pairs (gold -> predicted: count, examples):")
    for (g, p), count in confused.most_common():
        texts = [
            e.text for e, q in zip(examples, predicted, strict=True) if e.intent == g and q == p
        ]
        print(f"  {g} -> {p}: {count}   e.g. {' | '.join(texts[:3])}")
    figures = summary(gold, predicted)
    print("\nBooking family, % read as another booking intent:")
    for intent, rate in booking_confusion(gold, predicted).items():
        print(f"  {intent:<20} {rate:5.1f} %")
    print("\nTargets (issue 14):")
    old = (baseline or {}).get("summary", {})
    labels = {
        "overall": ("overall accuracy", ">="),
        "person": ("request for a person recognised", ">="),
        "nonsense": ("nonsense -> nlu_fallback", ">="),
        "booking_confusion": ("worst booking-family confusion", "<="),
    }
    for key, (label, sense) in labels.items():
        value, target = figures[key], TARGETS[key]
        ok = value >= target if sense == ">=" else value <= target
        was = f"  (before {old[key]:.1f} %)" if key in old else ""
        print(f"  {label:<34} {value:5.1f} %  target {sense} {target:.0f} %  "
              f"{'PASS' if ok else 'FAIL'}{was}")
    print(f"  {'real messages understood':<34} {figures['real']:5.1f} %")
    print(f"  {'real messages sent to fallback':<34} {figures['false_fallback']:5.1f} %")
    return {"per_intent": report, "summary": figures}


def sweep(examples: Sequence[Example], parses: Sequence[Parse]) -> None:
    """The held-out figures at other FallbackClassifier thresholds (same model)."""
    gold = [e.intent for e in examples]
    print("\nFallbackClassifier sweep (threshold, ambiguity): overall / person / nonsense / "
          "false fallback")
    for threshold in (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        for ambiguity in (0.0, 0.05, 0.1):
            predicted = [with_threshold(p, threshold, ambiguity) for p in parses]
            s = summary(gold, predicted)
            print(f"  {threshold:.2f} {ambiguity:.2f}: {s['overall']:5.1f} / {s['person']:5.1f} / "
                  f"{s['nonsense']:5.1f} / {s['false_fallback']:4.1f}")


def rasa_cross_validation(folds: int) -> dict[str, float]:
    """``rasa test nlu --cross-validation`` on nlu_data/: test F1, precision and accuracy.

    Rasa draws new folds on each run and reports weighted F1 only; ``--cv`` (bench/nlu_cv.py)
    is the comparison that holds the folds fixed. This stays for a check against Rasa's own.
    """
    with tempfile.TemporaryDirectory(prefix="vetrina-cv-") as out:
        started = time.monotonic()
        result = subprocess.run(
            [str(RASA), "test", "nlu", "--nlu", "nlu_data", "--config", "config.yml",
             "--cross-validation", "--folds", str(folds), "--out", out],
            cwd=ROOT, capture_output=True, text=True, check=False,
            env={**os.environ, "SQLALCHEMY_SILENCE_UBER_WARNING": "1"},
        )
        elapsed = time.monotonic() - started
        log = result.stdout + result.stderr
        if result.returncode != 0:
            raise SystemExit(f"rasa test nlu failed:\n{log[-3000:]}")
        figures: dict[str, float] = {"seconds": elapsed}
        section = log[log.find("Intent evaluation results"):]
        for name in ("Accuracy", "F1-score", "Precision"):
            match = re.search(rf"test {name}: ([0-9.]+) \(([0-9.]+)\)", section)
            if match:
                figures[name.lower()] = float(match.group(1))
                figures[f"{name.lower()}_std"] = float(match.group(2))
        report = Path(out) / "intent_report.json"
        if report.exists():
            data = json.loads(report.read_text())
            figures["macro_f1"] = float(data["macro avg"]["f1-score"])
            figures["weighted_f1"] = float(data["weighted avg"]["f1-score"])
    print(f"\nrasa test nlu --cross-validation ({folds} folds, {elapsed:.0f} s):")
    for key, value in figures.items():
        if key != "seconds":
            print(f"  {key:<14} {value:.3f}")
    return figures



def print_cv(scores: Sequence[PipelineScore], folds: int) -> None:
    """Per-intent F1 and the headline figures of each pipeline, mean ± sd across folds."""
    print(f"\nCross-validation: {folds} folds of nlu_data/ (stratified, seed {SEED}; "
          "the same folds for every pipeline)")
    for score in scores:
        print(f"\n  {score.config}")
        for name, label in (("macro_f1", "macro F1"), ("accuracy", "accuracy %"),
                            ("nonsense", "nonsense -> fallback %"),
                            ("false_fallback", "real -> fallback %"),
                            ("train_seconds", "rasa train nlu s/fold"),
                            ("train_cpu", "rasa train nlu CPU s/fold")):
            mean, sd = score.mean_sd(name)
            print(f"    {label:<24} {mean:7.3f} ± {sd:.3f}")
    names = [s.config for s in scores]
    print("\n  per-intent F1 (mean ± sd over folds): " + " | ".join(names))
    tables = [s.intent_f1() for s in scores]
    for intent in sorted(set().union(*tables)):
        cells = [f"{t[intent][0]:.2f} ± {t[intent][1]:.2f}" if intent in t else "-"
                 for t in tables]
        print(f"    {intent:<22} " + "   ".join(cells))
    print("\n  out-of-fold FallbackClassifier replay (threshold: accuracy / nonsense / "
          "real -> fallback, ambiguity 0.1)")
    for score in scores:
        print(f"    {score.config}")
        for threshold, accuracy, nonsense, false in threshold_replay(score):
            print(f"      {threshold:.2f}: {accuracy:5.1f} / {nonsense:5.1f} / {false:4.1f}")


def heldout_row(examples: Sequence[Example], predicted: Sequence[str]) -> dict[str, Any]:
    gold = [e.intent for e in examples]
    return {"summary": summary(gold, predicted), "per_intent": per_intent(gold, predicted)}


IMPORTANT = (FALLBACK, PERSON, "out_of_scope", "inform", "affirm", "deny", "give_code")


def markdown(
    rows: Sequence[dict[str, Any]], scores: Sequence[PipelineScore],
    examples: Sequence[Example], folds: int,
) -> str:
    """bench/results/nlu-compare.md: the pipelines side by side."""
    load = os.getloadavg()
    out = [
        "# NLU pipelines compared (bench/nlu.py --compare)",
        "",
        f"Written by `bench/nlu.py --compare` on {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} cores, load average at the end {load[0]:.1f}/{load[1]:.1f}/"
        f"{load[2]:.1f} (the machine is shared: times are wall times under that load).",
        f"Held-out set: {len(examples)} messages of eval/heldout/. Cross-validation: "
        f"{folds} folds of nlu_data/, stratified by intent, seed {SEED}, the same folds "
        "for every pipeline.",
        "",
        "| pipeline | rasa train, wall (CPU) s | held-out overall | real understood | "
        "real -> fallback | nonsense -> fallback | person | worst booking confusion | "
        "CV macro F1 | "
        "CV accuracy | CV nonsense | CV real -> fallback | "
        "train nlu s/fold, wall (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row, score in zip(rows, scores, strict=True):
        h = row["heldout"]["summary"]
        cv = {name: score.mean_sd(name) for name in
              ("macro_f1", "accuracy", "nonsense", "false_fallback", "train_seconds",
               "train_cpu")}
        out.append(
            f"| `{row['config']}` | {row['train_seconds']:.0f} ({row['train_cpu']:.0f}) | "
            f"{h['overall']:.1f} % | "
            f"{h['real']:.1f} % | {h['false_fallback']:.1f} % | {h['nonsense']:.1f} % | "
            f"{h['person']:.1f} % | {h['booking_confusion']:.1f} % | "
            f"{cv['macro_f1'][0]:.3f} ± {cv['macro_f1'][1]:.3f} | "
            f"{cv['accuracy'][0]:.1f} ± {cv['accuracy'][1]:.1f} % | "
            f"{cv['nonsense'][0]:.1f} ± {cv['nonsense'][1]:.1f} % | "
            f"{cv['false_fallback'][0]:.1f} ± {cv['false_fallback'][1]:.1f} % | "
            f"{cv['train_seconds'][0]:.0f} ({cv['train_cpu'][0]:.0f}) |"
        )
    names = [f"`{r['config']}`" for r in rows]
    out += ["", "## Per intent: CV F1 (mean ± sd over folds) and held-out F1", "",
            "| intent | " + " | ".join(f"CV {n}" for n in names) + " | "
            + " | ".join(f"held-out {n}" for n in names) + " |",
            "|---|" + "---:|" * (2 * len(rows))]
    tables = [s.intent_f1() for s in scores]
    intents = sorted(set().union(*tables) | {e.intent for e in examples})
    for intent in intents:
        cv_cells = [f"{t[intent][0]:.2f} ± {t[intent][1]:.2f}" if intent in t else "-"
                    for t in tables]
        held = [r["heldout"]["per_intent"].get(intent) for r in rows]
        held_cells = [f"{h['f1']:.2f}" if h and h["support"] else "-" for h in held]
        out.append(f"| {intent} | " + " | ".join(cv_cells + held_cells) + " |")
    out += ["", "## Held-out confusion for the important intents", "",
            "Every held-out message whose gold or predicted intent is one of "
            + ", ".join(f"`{i}`" for i in IMPORTANT) + ", read as something else.", ""]
    for row in rows:
        out.append(f"**`{row['config']}`**")
        out.append("")
        pairs = Counter(
            (e.intent, p) for e, p in zip(examples, row["predicted"], strict=True)
            if e.intent != p and (e.intent in IMPORTANT or p in IMPORTANT)
        )
        for (g, p), count in sorted(pairs.items(), key=lambda item: (-item[1], item[0])):
            texts = [e.text for e, q in zip(examples, row["predicted"], strict=True)
                     if e.intent == g and q == p]
            out.append(f"- {g} → {p}: {count} ({' · '.join(texts[:4])})")
        out.append("")
    out += ["## FallbackClassifier threshold, replayed on the out-of-fold parses", "",
            "Accuracy / nonsense → fallback / real → fallback on the cross-validation "
            "test folds (ambiguity 0.1): a threshold chosen here is chosen without the "
            "held-out set.", "",
            "| threshold | " + " | ".join(names) + " |", "|---:|" + "---|" * len(rows)]
    replays = [threshold_replay(s) for s in scores]
    for i, (threshold, *_) in enumerate(replays[0]):
        cells = [f"{r[i][1]:.1f} / {r[i][2]:.1f} / {r[i][3]:.1f}" for r in replays]
        out.append(f"| {threshold:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def compare(configs: Sequence[Path], folds: int, output: Path | None) -> float:
    """Train each config in full (timed), judge it on the held-out set, cross-validate all
    of them on the same folds; print and write the comparison. Returns the first config's
    held-out accuracy."""
    examples = read_heldout()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vetrina-compare-") as tmp:
        for index, config in enumerate(configs):
            name = f"pipeline{index}"
            shown = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
            print(f"training {shown} (whole assistant, under the training lock)…", flush=True)
            took = train_full(config, Path(tmp), name)
            parses = parse_all(Path(tmp) / f"{name}.tar.gz", [e.text for e in examples])
            predicted = [p.intent for p in parses]
            row = {"config": str(shown), "train_seconds": took.wall, "train_cpu": took.cpu,
                   "predicted": predicted,
                   "heldout": heldout_row(examples, predicted)}
            h = row["heldout"]["summary"]
            print(f"  rasa train {took.wall:.0f} s ({took.cpu:.0f} s CPU); held-out overall "
                  f"{h['overall']:.1f} %, real understood {h['real']:.1f} %, real -> fallback "
                  f"{h['false_fallback']:.1f} %, nonsense {h['nonsense']:.1f} %, "
                  f"person {h['person']:.1f} %", flush=True)
            rows.append(row)
    print(f"\ncross-validating {len(configs)} pipelines on {folds} folds…", flush=True)
    scores = cross_validate(configs, folds, log=lambda line: print(line, flush=True))
    print_cv(scores, folds)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown(rows, scores, examples, folds), encoding="utf-8")
        print(f"\nwrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return float(rows[0]["heldout"]["summary"]["overall"])


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "vetrina.tar.gz")
    parser.add_argument("--no-cv", action="store_true", help="skip the 5-fold cross-validation")
    parser.add_argument("--rasa-cv", action="store_true",
                        help="also run `rasa test nlu --cross-validation` (its own folds)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sweep", action="store_true", help="replay other fallback thresholds")
    parser.add_argument("--save", type=Path, help="write the figures as JSON here")
    parser.add_argument("--baseline", type=Path, help="a --save file to compare with")
    parser.add_argument(
        "--compare", type=Path, nargs="+", metavar="CONFIG",
        help="train config.yml and these configs, judge each on the held-out set and "
             "cross-validate all on the same folds (long: run it with nohup)",
    )
    parser.add_argument("--markdown", type=Path, default=RESULTS / "nlu-compare.md",
                        help="where --compare writes its tables")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.compare:
        configs = [ROOT / "config.yml", *(c.resolve() for c in args.compare)]
        accuracy = compare(configs, args.folds, args.markdown)
        print(f"held-out accuracy: {accuracy:.1f} %")
        return 0
    if not args.model.exists():
        print(f"no model at {args.model}: train first (python -m scripts.train)", file=sys.stderr)
        return 1
    examples = read_heldout()
    started = time.monotonic()
    parses = parse_all(args.model, [e.text for e in examples])
    shown = args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model
    print(f"parsed {len(examples)} messages in {time.monotonic() - started:.1f} s (model {shown})")
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    results = print_report(examples, [p.intent for p in parses], baseline)
    results["predictions"] = [
        {"text": e.text, "gold": e.intent, "predicted": p.intent, "top": list(p.top)}
        for e, p in zip(examples, parses, strict=True)
    ]
    if args.sweep:
        sweep(examples, parses)
    if not args.no_cv:
        scores = cross_validate([ROOT / "config.yml"], args.folds,
                                log=lambda line: print(line, flush=True))
        print_cv(scores, args.folds)
        score = scores[0]
        results["cross_validation"] = {
            name: score.mean_sd(name)
            for name in ("macro_f1", "accuracy", "nonsense", "false_fallback", "train_seconds",
                         "train_cpu")
        } | {"per_intent_f1": score.intent_f1()}
    if args.rasa_cv:
        results["rasa_cross_validation"] = rasa_cross_validation(args.folds)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"held-out accuracy: {results['summary']['overall']:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
