"""Start ``rasa`` with its API token from a file or the environment, never from argv.

``RASA_TOKEN_FILE`` (a file holding the token, such as a Docker secret) or else
``RASA_TOKEN``. The token is added to ``sys.argv`` inside this process only, so ``ps``
and ``/proc/<pid>/cmdline`` show the arguments given here, without it.

Used by docker-compose (the Rasa containers), ``make run`` and ``make run-prod``::

    python docker/rasa/run_rasa.py run --enable-api --model ... --endpoints ...
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def token() -> str:
    path = os.environ.get("RASA_TOKEN_FILE", "").strip()
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get("RASA_TOKEN", "").strip()


def main() -> None:
    args = sys.argv[1:]
    if any(arg == "--auth-token" or arg.startswith("--auth-token=") for arg in args):
        sys.exit("run_rasa.py: give the token in RASA_TOKEN or RASA_TOKEN_FILE, not --auth-token")
    secret = token()
    if not secret:
        sys.exit("run_rasa.py: RASA_TOKEN or RASA_TOKEN_FILE is required (the Rasa API is open)")
    # One argv item: a token may start with "-", which argparse would take for an option.
    sys.argv = ["rasa", *args, f"--auth-token={secret}"]
    # Rasa lives in its own venv (.venv-rasa or the rasa image), not the project's.
    from rasa.__main__ import main as rasa_main  # type: ignore[import-not-found]

    rasa_main()


if __name__ == "__main__":
    main()
