"""Whole conversations against the real stack, written out to be read by a person.

Starts what ``make run`` starts (Rasa with the trained model, the action server, the
gateway) on free ports, on a fresh SQLite database with the demo retailer, then talks
to the assistant like the web widget does (tests/chat_client.py) through 20 shopper
conversations per language: stock questions with short forms and typos, a person asked
for by slang, nonsense, goodbyes, bookings that pick a store from buttons, add an item,
move and cancel. Every shopper message and every answer (with its buttons) goes to
``bench/results/conversations.md``; reading that file is the check.

    .venv/bin/python bench/conversations.py [--out bench/results/conversations.md]
                                            [--only it|en]

Buttons are pressed by writing ``@1`` (the first button of the last answer) as the
shopper's message: the script sends that button's payload, as the widget would.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.environment import ONE_ADDRESS_FOR_ALL  # noqa: E402
from scripts.stack import MODEL, Ports, Stack  # noqa: E402
from tests.chat_client import WebCustomer  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.stack_fixtures import prepare_database  # noqa: E402

IT_DAYS = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"]
EN_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


ITALIAN: list[tuple[str, list[str]]] = [
    ("Disponibilità con refusi", ["ciao", "avete il trench nero in M a milano?", "e a roma?"]),
    ("Sneakers, taglia dopo", ["snikers bianche ce le avete?", "42", "a torino"]),
    ("Commessa per slang", ["c'è una commessa disponibile?"]),
    ("Basta bot", ["basta bot, voglio un umano"]),
    ("Operatore dopo una domanda", ["il cappotto cammello S c'è a firenze?", "operatore pls"]),
    ("Nonsense, poi il bottone persona", ["mmmmmmm", "@2"]),
    ("Fuori tema", ["mi consigli un ristorante in centro?", "ok grazie ciao ciao"]),
    ("Orari", ["a che ora chiude il negozio di napoli oggi?", "grz"]),
    ("Saluti", ["buongiornooo", "cosa sai fare?", "ok ciaoo"]),
    ("Prova in un messaggio", [
        f"vorrei prenotare una prova del trench nero M a Bologna {IT_DAYS[5]} alle 11",
        "le mie prenotazioni"]),
    ("Prova, ultimi pezzi e altro negozio", [
        "avete il trench nero in M a milano?", "e a roma?",
        f"vorrei prenotare una prova {IT_DAYS[5]} alle 11", "@1"]),
    ("Prova passo passo", ["vorrei prenotare un camerino", "le sneakers bianche 42", "a Verona",
                           f"{IT_DAYS[3]} pomeriggio", "@1"]),
    ("Prova e aggiunta", [
        f"prenota una prova delle sneakers bianche 42 a Verona {IT_DAYS[3]} alle 16",
        "posso provare anche i jeans neri 32 nello stesso appuntamento?"]),
    ("Spostare", [f"prenotami una prova del trench nero M a Genova {IT_DAYS[5]} alle 12",
                  "mi serve un altro orario per l'appuntamento", "@1"]),
    ("Annullare", [f"prenota le sneakers bianche 42 a Torino {IT_DAYS[3]} alle 15",
                   "non riesco più a venire, annulla tutto"]),
    ("Data impossibile", ["vorrei provare il trench nero M a Bologna il 31 febbraio alle 10",
                          "@1"]),
    ("Negozio più vicino", ["c'è il trench nero M vicino a me?", "sono a Padova"]),
    ("Bot o persona", ["sei un bot?", "allora passami una persona"]),
    ("Lingua", ["switch to english pls", "do you have white sneakers 42 in milan?"]),
    ("Ringraziamenti", ["avete jeans 32 a torino?", "perfetto grazie mille!!", "ciao ciao 👋"]),
]

ENGLISH: list[tuple[str, list[str]]] = [
    ("Stock with typos", ["hi", "do u have the black trench in M in milan?", "and in rome?"]),
    ("Sneakers, size later", ["any white sneakers?", "42", "turin"]),
    ("A human please", ["I need a human please"]),
    ("Transfer to an agent", ["transfer me to an agent"]),
    ("Store assistant after a question", ["is the camel coat S in florence?",
                                          "can a store assistant help me?"]),
    ("Nonsense, then the person button", ["zxqv blorp", "@2"]),
    ("Out of scope", ["can you recommend a restaurant downtown?", "ok thanks bye"]),
    ("Hours", ["what time does the naples store close today?", "ty"]),
    ("Greetings", ["hey there 👋", "what can you do?", "bye bye"]),
    ("Try-on in one message", [
        f"can I book a try-on of the black trench M in Bologna on {EN_DAYS[5]} at 11am",
        "my bookings"]),
    ("Try-on, last pieces and another store", [
        "do you have the black trench in M in milan?", "and in rome?",
        f"I'd like to book a try-on on {EN_DAYS[5]} at 11", "@1"]),
    ("Try-on step by step", ["can I book a fitting room?", "white sneakers 42", "Verona",
                             f"{EN_DAYS[3]} afternoon", "@1"]),
    ("Try-on and one more item", [
        f"book a try-on of the white sneakers 42 in Verona on {EN_DAYS[3]} at 4pm",
        "can I also try the black jeans 32 at the same appointment"]),
    ("Move", [f"book me a try-on of the black trench M in Genoa on {EN_DAYS[5]} at 12",
              "I need a different time for my appointment", "@1"]),
    ("Cancel", [f"book the white sneakers 42 in Turin on {EN_DAYS[3]} at 3pm",
                "can't come anymore, cancel it"]),
    ("Impossible date", ["I'd like to try the black trench M in Bologna on February 31 at 10",
                         "@1"]),
    ("Nearest store", ["is the black trench M available near me?", "I'm in Padua"]),
    ("Bot or person", ["are you a bot?", "then get me a real person"]),
    ("Friday at 5", ["can I come and try it on Friday at 5?", "the black trench M", "Bologna"]),
    ("Thanks", ["jeans 30 available in turin?", "great thx!", "see ya"]),
]


def button_payload(replies: list[dict[str, Any]], spec: str) -> tuple[str, str] | None:
    """``@N``: the Nth button of the last answer, as (title, payload)."""
    if not spec.startswith("@"):
        return None
    found = [b for r in replies for b in r.get("quick_replies") or []]
    index = int(spec[1:]) - 1
    if not 0 <= index < len(found):
        return None
    return str(found[index]["title"]), str(found[index]["payload"])


def render(replies: list[dict[str, Any]]) -> list[str]:
    lines = []
    for reply in replies:
        text = (reply.get("text") or "").strip().replace("\n", "  \n  ")
        lines.append(f"- **Vetrina:** {text}")
        titles = [str(b["title"]) for b in reply.get("quick_replies") or []]
        if titles:
            lines.append(f"  - buttons: {' · '.join(f'[{t}]' for t in titles)}")
    return lines


async def converse(url: str, title: str, messages: list[str], language: str) -> list[str]:
    customer = await WebCustomer(url).connect()
    lines = [f"### {language.upper()} — {title}", ""]
    last: list[dict[str, Any]] = []
    try:
        for message in messages:
            pressed = button_payload(last, message)
            if message.startswith("@") and pressed is None:
                lines.append(f"- *(no button {message} to press)*")
                break
            shown, sent = (f"[{pressed[0]}]", pressed[1]) if pressed else (message, message)
            lines.append(f"- **Shopper:** {shown}")
            try:
                last = await customer.say(sent, timeout=90)
            except asyncio.TimeoutError:
                lines.append("- *(no answer within 90 s)*")
                break
            lines += render(last)
    finally:
        await customer.close()
    return [*lines, ""]


async def run_all(url: str, only: str | None) -> list[str]:
    out: list[str] = []
    for language, conversations in (("it", ITALIAN), ("en", ENGLISH)):
        if only and only != language:
            continue
        for title, messages in conversations:
            out += await converse(url, title, messages, language)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "conversations.md")
    parser.add_argument("--only", choices=["it", "en"])
    args = parser.parse_args()
    if not MODEL.exists():
        print(f"no model at {MODEL}: train first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="vetrina-conversations-") as tmp:
        var = Path(tmp)
        database_url = f"sqlite+aiosqlite:///{var / 'vetrina.db'}"
        prepare_database(database_url)
        stack = Stack(
            Ports(gateway=free_port(), rasa=free_port(), actions=free_port()),
            var=var,
            extra_env={"DATABASE_URL": database_url, "VETRINA_PUBLIC_URL": "https://shop.example",
                       **ONE_ADDRESS_FOR_ALL},
        )
        services = [stack.actions(), stack.rasa(), stack.gateway()]
        started = time.monotonic()
        try:
            for service in services:
                service.start()
            for service in services:
                service.wait_ready(timeout=300)
            url = f"http://127.0.0.1:{stack.ports.gateway}"
            lines = asyncio.run(run_all(url, args.only))
        finally:
            for service in reversed(services):
                service.stop()
    header = [
        "# Whole conversations against the real stack",
        "",
        f"Generated by `bench/conversations.py` on {date.today():%Y-%m-%d} "
        f"({time.monotonic() - started:.0f} s): Rasa with models/vetrina.tar.gz, the action "
        "server and the gateway, the demo retailer, the web-chat protocol. "
        "`[Title]` is a button the shopper pressed.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
