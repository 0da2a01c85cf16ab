"""SQL statements, commits and garbage-collector time per process, for ``bench/turn_cost.py``.

``bench/turn_cost.py`` puts this folder first on ``PYTHONPATH`` of the processes it starts
and names a folder in ``VETRINA_BENCH_PROBE``: each process that uses SQLAlchemy (the
gateway, the action server, Rasa's SQL tracker store) then writes its running counts to
``<folder>/<pid>.json``. Counting needs no change to the code measured; without the
variable nothing is imported. One listener per statement costs a few microseconds.
The collector's pauses are timed with ``gc.callbacks`` (``gc_us_gen0..2``, microseconds,
and ``gc_runs_gen0..2``): a pause is charged to whatever allocation set it off, so a
profiler shows it inside unrelated code. ``VETRINA_BENCH_PROBE_STATEMENTS=1`` also appends
each statement (one line, shortened) to ``<folder>/<pid>.sql``, to see which ones a turn
makes.
"""

from __future__ import annotations

import gc
import json
import os
import re
import threading
import time
from typing import Any

FOLDER = os.environ.get("VETRINA_BENCH_PROBE", "")
STATEMENTS = os.environ.get("VETRINA_BENCH_PROBE_STATEMENTS") == "1"
# The first table a statement names, for "select messages", "update conversations"…
TABLE = re.compile(r"\b(?:from|into|update)\s+[\"`]?(\w+)", re.IGNORECASE)


def _install(folder: str) -> None:
    try:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
    except ImportError:  # a Python without SQLAlchemy has nothing to count
        return
    counts = {"statements": 0, "select": 0, "insert": 0, "update": 0, "delete": 0,
              "other": 0, "commits": 0}
    lock = threading.Lock()
    path = os.path.join(folder, f"{os.getpid()}.json")
    trail = open(path[:-5] + ".sql", "a", encoding="utf-8") if STATEMENTS else None  # noqa: SIM115

    def on_execute(*args: Any) -> None:
        text = str(args[2])
        statement = text.lstrip().split(None, 1)
        verb = statement[0].lower() if statement else "other"
        verb = verb if verb in counts and verb != "commits" else "other"
        table = TABLE.search(text)
        with lock:
            counts["statements"] += 1
            counts[verb] += 1
            key = f"{verb} {table.group(1) if table else '?'}"
            counts[key] = counts.get(key, 0) + 1
            if trail is not None:
                trail.write(" ".join(text.split())[:200] + "\n")
                trail.flush()

    def on_commit(*_: Any) -> None:
        with lock:
            counts["commits"] += 1
            if trail is not None:
                trail.write("COMMIT\n")
                trail.flush()

    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Engine, "commit", on_commit)
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        generation = info.get("generation", 0)
        spent = int((time.perf_counter() - started[0]) * 1_000_000)
        with lock:
            counts[f"gc_us_gen{generation}"] = counts.get(f"gc_us_gen{generation}", 0) + spent
            counts[f"gc_runs_gen{generation}"] = counts.get(f"gc_runs_gen{generation}", 0) + 1

    gc.callbacks.append(on_gc)

    def writer() -> None:
        written: dict[str, int] = {}
        while True:
            time.sleep(0.2)
            with lock:
                now = dict(counts)
            if now != written:
                with open(path + ".tmp", "w", encoding="utf-8") as out:
                    json.dump(now, out)
                os.replace(path + ".tmp", path)
                written = now

    threading.Thread(target=writer, name="bench-probe", daemon=True).start()



if FOLDER:
    _install(FOLDER)
