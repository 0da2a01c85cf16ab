"""Parse messages with a trained Rasa model; run by bench/nlu.py under .venv-rasa.

Rasa (3.6, SQLAlchemy 1.4, Sanic 21) lives in its own environment, so bench/nlu.py
cannot import it: it starts this script with ``.venv-rasa/bin/python`` instead, writes
one message per line on stdin, and reads one JSON object per line back. The script
imports nothing from the project.

Output per message: the text, the intent after the FallbackClassifier, its confidence,
and the top two intents the classifier ranked before any fallback, so that bench/nlu.py
can replay other fallback thresholds without retraining.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

FALLBACK = "nlu_fallback"


def ranked(parse: dict[str, Any]) -> list[tuple[str, float]]:
    """The classifier's own ranking, without the fallback the FallbackClassifier added."""
    return [
        (str(item["name"]), float(item["confidence"]))
        for item in parse.get("intent_ranking") or []
        if item["name"] != FALLBACK
    ]


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
