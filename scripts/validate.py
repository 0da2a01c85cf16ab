"""``rasa data validate --fail-on-warnings``, minus one warning that is not a problem here.

Rasa 3.6 warns "The utterance 'utter_x' is not used in any story or rule" for every
response that only custom actions send (``dispatcher.utter_message(response=...)``),
and it does not fail on it either. Those warnings would bury the ones that matter, so
this runs the validator, drops that warning for the responses named in ``actions/``
(a literal ``"utter_..."``, or a literal prefix of an f-string such as
``f"utter_stock_{status}"``), prints everything else, and fails when Rasa fails or when
any other warning is left. ``tests/actions/test_stock_actions.py`` checks the other way
round: every response the actions send exists, in both languages, with its values.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
UNUSED = re.compile(r"The utterance '(utter_[A-Za-z0-9_]+)' is not used in any story or rule\.")
LITERAL = re.compile(r"""["'](utter_[A-Za-z0-9_]*)""")


def action_responses() -> tuple[set[str], set[str]]:
    """(exact names, prefixes) of the responses the custom actions send."""
    names: set[str] = set()
    for path in (ROOT / "actions").glob("*.py"):
        names.update(LITERAL.findall(path.read_text(encoding="utf-8")))
    return {n for n in names if not n.endswith("_")}, {n for n in names if n.endswith("_")}


def sent_by_actions(name: str, exact: set[str], prefixes: set[str]) -> bool:
    return name in exact or any(name.startswith(p) for p in prefixes)


def main() -> int:
    result = subprocess.run(
        [
            str(RASA),
            "data",
            "validate",
            "--config",
            "config.yml",
            "--domain",
            "bot/domain",
            "--data",
            "nlu_data",
            "bot/data",
            "--fail-on-warnings",
        ],
        cwd=ROOT,
        env={**os.environ, "SQLALCHEMY_SILENCE_UBER_WARNING": "1"},
        check=False,
        capture_output=True,
        text=True,
    )
    exact, prefixes = action_responses()
    dropped = 0
    left = 0
    lines = (result.stdout + result.stderr).splitlines()
    for line in lines:
        match = UNUSED.search(line)
        if match and sent_by_actions(match.group(1), exact, prefixes):
            dropped += 1
            continue
        if "UserWarning" in line or " WARNING " in line:
            left += 1
        print(line)
    print(f"(responses sent by custom actions, not by stories: {dropped}, not listed above)")
    if result.returncode != 0:
        return result.returncode
    if left:
        print(f"{left} warning(s) left: fix them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
