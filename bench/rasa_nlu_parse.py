"""Parse messages with a trained Rasa model; run by bench/nlu.py under .venv-rasa.

Rasa (3.6, SQLAlchemy 1.4, Sanic 21) lives in its own environment, so bench/nlu.py
cannot import it: it starts this script with ``.venv-rasa/bin/python`` instead, writes
one message per line on stdin, and reads one JSON object per line back. The script
imports nothing from the project.

Output per message: the text, the intent after the FallbackClassifier, its confidence,
and the top two intents DIET ranked before the FallbackClassifier stepped in, so that
bench/nlu.py can replay other fallback thresholds without retraining.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

FALLBACK = "nlu_fallback"


def added_by_fallback_classifier(ranking: list[dict[str, Any]]) -> bool:
    """Whether the first entry is the one the FallbackClassifier put in front.

    It inserts ``nlu_fallback`` with its threshold as confidence (a round number such as
    0.6), ahead of DIET's own ranking; DIET also knows ``nlu_fallback`` as a trained
    class (keyboard mashing, nlu_data/*/nonsense.yml), with a computed confidence.
    """
    if not ranking or ranking[0]["name"] != FALLBACK:
        return False
    again = any(item["name"] == FALLBACK for item in ranking[1:])
    hundredths = float(ranking[0]["confidence"]) * 100
    return again or abs(hundredths - round(hundredths)) < 1e-6


def ranked(parse: dict[str, Any]) -> list[tuple[str, float]]:
    """The classifier's own ranking, without the entry the FallbackClassifier added."""
    ranking = list(parse.get("intent_ranking") or [])
    if added_by_fallback_classifier(ranking):
        ranking = ranking[1:]
    return [(str(item["name"]), float(item["confidence"])) for item in ranking]


async def main(model: str) -> int:
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    logging.disable(logging.WARNING)
    from rasa.core.agent import Agent

    agent = Agent.load(model_path=model)
    for line in sys.stdin:
        text = line.rstrip("\n")
        if not text:
            continue
        parse = await agent.parse_message(text)
        ranking = ranked(parse)
        top = ranking[0] if ranking else (FALLBACK, 0.0)
        second = ranking[1] if len(ranking) > 1 else ("", 0.0)
        print(
            json.dumps(
                {
                    "text": text,
                    "intent": parse["intent"]["name"],
                    "confidence": float(parse["intent"]["confidence"]),
                    "top": list(top),
                    "second": list(second),
                },
                ensure_ascii=False,
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
