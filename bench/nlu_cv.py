"""Five-fold cross-validation of one or more NLU pipelines on the same folds.

``rasa test nlu --cross-validation`` draws new folds on every run (scikit-learn's
StratifiedKFold with ``shuffle=True`` and no seed), so two pipelines run through it are
not compared on the same split, and it reports weighted F1 only. This module draws the
folds itself, stratified by intent with a fixed seed, so every pipeline trains and tests
on exactly the same sentences, and it scores each fold the way bench/nlu.py scores the
held-out set:

- per-intent precision/recall/F1 and macro F1 (the plain mean over the intents in the
  fold), then mean ± sample standard deviation across the folds;
- nonsense (`nlu_fallback`) recall and the share of real messages sent to the fallback;
- the seconds ``rasa train nlu`` took per fold.

The test fold is parsed through the trained fold model with its FallbackClassifier, so
the figures include the fallback as the assistant applies it. Every training step runs
under the shared training lock (``/tmp/vetrina-train.lock``), as ``make train`` does,
and without Rasa's training cache, so that every training is measured cold.
Run by ``bench/nlu.py`` (unless ``--no-cv``) and by ``bench/nlu.py --compare``.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import resource
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
NLU_DATA = ROOT / "nlu_data"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
TRAIN_LOCK = Path("/tmp/vetrina-train.lock")  # noqa: S108 -- the lock every trainer shares
SEED = 14
ENTITY = re.compile(r"\[([^\]]*)\](\{[^}]*\}|\([^)]*\))")


@dataclass(frozen=True)
class Sample:
    line: str  # as written in nlu_data, entity markup included
    intent: str

    @property
    def text(self) -> str:
        """What a shopper would have typed: the line without entity markup."""
        return ENTITY.sub(r"\1", self.line)


@dataclass
class FoldScore:
    per_intent: dict[str, dict[str, float]]
    macro_f1: float
    accuracy: float
    nonsense: float
    false_fallback: float
    train_seconds: float
    train_cpu: float


@dataclass
class PipelineScore:
    config: str
    folds: list[FoldScore] = field(default_factory=list)
    # Out-of-fold parses of every training sentence, for the threshold replay.
    gold: list[str] = field(default_factory=list)
    parses: list[Any] = field(default_factory=list)

    def mean_sd(self, name: str) -> tuple[float, float]:
        values = [float(getattr(fold, name)) for fold in self.folds]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return statistics.fmean(values), sd

    def intent_f1(self) -> dict[str, tuple[float, float]]:
        """Each gold intent's F1, mean ± sd across folds."""
        intents = sorted({i for f in self.folds for i, r in f.per_intent.items() if r["support"]})
        table: dict[str, tuple[float, float]] = {}
        for intent in intents:
            values = [f.per_intent.get(intent, {"f1": 0.0})["f1"] for f in self.folds]
            table[intent] = (
                statistics.fmean(values),
                statistics.stdev(values) if len(values) > 1 else 0.0,
            )
        return table


def read_training(folder: Path = NLU_DATA) -> tuple[list[Sample], list[dict[str, Any]]]:
    """The intent examples of nlu_data/, and every other block (synonyms, lookups, regexes)."""
    samples: list[Sample] = []
    extras: list[dict[str, Any]] = []
    for path in sorted(folder.rglob("*.yml")):
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            if "intent" not in block:
                extras.append(dict(block))
                continue
            for line in str(block.get("examples") or "").splitlines():
                if line.strip().startswith("- "):
                    samples.append(Sample(line.strip()[2:].strip(), str(block["intent"])))
    return samples, extras


def stratified_folds(samples: Sequence[Sample], folds: int, seed: int = SEED) -> list[int]:
    """The fold of each sample: each intent's examples shuffled, then dealt in turn.

    The dealing starts where the previous intent's stopped, so the folds differ in size by
    at most one sentence. Same data and seed, same folds, whatever the pipeline.
    """
    rng = random.Random(seed)
    by_intent: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        by_intent[sample.intent].append(index)
    assignment = [0] * len(samples)
    turn = 0
    for intent in sorted(by_intent):
        indices = by_intent[intent]
        rng.shuffle(indices)
        for index in indices:
            assignment[index] = turn % folds
            turn += 1
    return assignment


def write_nlu(path: Path, samples: Sequence[Sample], extras: Sequence[dict[str, Any]]) -> None:
    """Rasa NLU YAML with these examples and the synonym/lookup/regex blocks."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for sample in samples:
        by_intent[sample.intent].append(sample.line)
    lines = ['version: "3.1"', "nlu:"]
    for intent, examples in by_intent.items():
        lines += [f"  - intent: {intent}", "    examples: |"]
        lines += [f"      - {line}" for line in examples]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if extras:
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        yaml.allow_unicode = True
        with (path.parent / "extras.yml").open("w", encoding="utf-8") as handle:
            yaml.dump({"version": "3.1", "nlu": [dict(block) for block in extras]}, handle)


@contextmanager
def training_lock() -> Iterator[None]:
    """The lock `make train` is run under (flock /tmp/vetrina-train.lock)."""
    with TRAIN_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class TrainTime:
    wall: float
    cpu: float  # user + system seconds of rasa and its children: less load-bound than wall


def rasa_train(args: Sequence[str], out: Path, name: str) -> TrainTime:
    """Run ``rasa train …`` under the training lock; the seconds it took."""
    with training_lock():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = subprocess.run(
            [str(RASA), "train", *args, "--out", str(out), "--fixed-model-name", name],
            cwd=ROOT, capture_output=True, text=True, check=False,
            # No training cache: every measured training starts cold, as in CI, whatever
            # was trained here before (a cached DIET would make a pipeline look fast).
            env={**os.environ, "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "RASA_MAX_CACHE_SIZE": "0"},
        )
        elapsed = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"rasa train failed:\n{(result.stdout + result.stderr)[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return TrainTime(elapsed, cpu)


def train_full(config: Path, out: Path, name: str) -> TrainTime:
    """The whole assistant (NLU and policies), as `make train` trains it."""
    return rasa_train(
        ["--config", str(config), "--domain", "bot/domain", "--data", "nlu_data", "bot/data"],
        out, name,
    )


def score_fold(gold: Sequence[str], predicted: Sequence[str], took: TrainTime) -> FoldScore:
    from bench.nlu import per_intent, summary

    report = per_intent(gold, predicted)
    present = [row["f1"] for row in report.values() if row["support"]]
    figures = summary(gold, predicted)
    return FoldScore(
        per_intent=report,
        macro_f1=statistics.fmean(present),
        accuracy=figures["overall"],
        nonsense=figures["nonsense"],
        false_fallback=figures["false_fallback"],
        train_seconds=took.wall,
        train_cpu=took.cpu,
    )


def cross_validate(
    configs: Sequence[Path], folds: int = 5, seed: int = SEED, log: Any = print
) -> list[PipelineScore]:
    """Train and test every config on the same ``folds`` folds of nlu_data/."""
    from bench.nlu import parse_all

    samples, extras = read_training()
    assignment = stratified_folds(samples, folds, seed)
    scores = [PipelineScore(config=str(c.relative_to(ROOT) if c.is_relative_to(ROOT) else c))
              for c in configs]
    with tempfile.TemporaryDirectory(prefix="vetrina-cv-") as tmp:
        for k in range(folds):
            train = [s for s, f in zip(samples, assignment, strict=True) if f != k]
            test = [s for s, f in zip(samples, assignment, strict=True) if f == k]
            data = Path(tmp) / f"fold{k}"
            data.mkdir()
            write_nlu(data / "nlu.yml", train, extras)
            for config, score in zip(configs, scores, strict=True):
                out = Path(tmp) / "models"
                name = f"fold{k}-{config.stem}"
                took = rasa_train(
                    ["nlu", "--nlu", str(data), "--config", str(config)], out, name
                )
                parses = parse_all(out / f"{name}.tar.gz", [s.text for s in test])
                gold = [s.intent for s in test]
                fold = score_fold(gold, [p.intent for p in parses], took)
                score.folds.append(fold)
                score.gold += gold
                score.parses += parses
                log(
                    f"  fold {k + 1}/{folds} {score.config}: macro F1 {fold.macro_f1:.3f}, "
                    f"accuracy {fold.accuracy:.1f} %, nonsense {fold.nonsense:.1f} %, "
                    f"false fallback {fold.false_fallback:.1f} %, train {took.wall:.0f} s "
                    f"({took.cpu:.0f} s CPU)"
                )
                (out / f"{name}.tar.gz").unlink(missing_ok=True)
    return scores


def threshold_replay(score: PipelineScore) -> list[tuple[float, float, float, float]]:
    """Out-of-fold (threshold, accuracy, nonsense recall, false fallback) at other
    FallbackClassifier thresholds: the threshold chosen without the held-out set."""
    from bench.nlu import summary, with_threshold

    rows = []
    for threshold in (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        predicted = [with_threshold(p, threshold, 0.1) for p in score.parses]
        figures = summary(score.gold, predicted)
        rows.append(
            (threshold, figures["overall"], figures["nonsense"], figures["false_fallback"])
        )
    return rows
