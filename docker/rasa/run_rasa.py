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


def speed_ups() -> None:
    """Two costs of every Rasa turn, cut without changing what Rasa does (measured by
    ``bench/turn_cost.py``; ``VETRINA_RASA_SPEEDUPS=0`` turns them off):

    - each action server answer is checked with ``jsonschema.validate``, which checks the
      schema itself and builds a new validator on every call (a quarter of a turn's CPU):
      one validator per schema instead, with the same errors;
    - ``Event.resolve_by_type`` walks every ``Event`` subclass for each stored event it
      loads (tracker loads grow with the conversation): the subclass list is computed
      once per class, after Rasa's events are all defined;
    - Python's full garbage collections walk the loaded model (TensorFlow's heap): 340-500
      ms each, one every 10-15 turns in a long conversation, all of it on one unlucky
      turn. Once a model is loaded, ``gc.freeze()`` moves it out of the collector's way
      (a model replaced through the API is then not freed until restart: deploys restart).
    """
    if os.environ.get("VETRINA_RASA_SPEEDUPS", "1") == "0":
        return
    import gc
    import json

    try:
        import jsonschema  # type: ignore[import-untyped,unused-ignore]
        import rasa.shared.utils.common as common  # type: ignore[import-not-found]
    except ImportError:  # not Rasa's environment (a stand-in in tests): nothing to speed up
        return

    original = common.all_subclasses
    known: dict[object, object] = {}

    def all_subclasses(cls: object) -> object:
        if cls not in known:
            known[cls] = original(cls)
        return known[cls]

    common.all_subclasses = all_subclasses
    validators: dict[str, object] = {}

    def validate(instance: object, schema: object, cls: object = None, *args: object,
                 **kwargs: object) -> None:
        key = json.dumps(schema, sort_keys=True, default=str)
        validator = validators.get(key)
        if validator is None:
            kind = cls or jsonschema.validators.validator_for(schema)
            kind.check_schema(schema)  # type: ignore[attr-defined]
            validator = validators[key] = kind(schema, *args, **kwargs)  # type: ignore[operator]
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))  # type: ignore[attr-defined]
        if error is not None:
            raise error

    jsonschema.validate = validate

    from rasa.core.agent import Agent  # type: ignore[import-not-found]

    load_model = Agent.load_model

    def load_model_then_freeze(self: object, *args: object, **kwargs: object) -> None:
        load_model(self, *args, **kwargs)
        gc.collect()
        gc.freeze()

    Agent.load_model = load_model_then_freeze


def main() -> None:
    args = sys.argv[1:]
    if any(arg == "--auth-token" or arg.startswith("--auth-token=") for arg in args):
        sys.exit("run_rasa.py: give the token in RASA_TOKEN or RASA_TOKEN_FILE, not --auth-token")
    secret = token()
    if not secret:
        sys.exit("run_rasa.py: RASA_TOKEN or RASA_TOKEN_FILE is required (the Rasa API is open)")
    # One argv item: a token may start with "-", which argparse would take for an option.
    sys.argv = ["rasa", *args, f"--auth-token={secret}"]
    speed_ups()
    # Rasa lives in its own venv (.venv-rasa or the rasa image), not the project's.
    from rasa.__main__ import main as rasa_main  # type: ignore[import-not-found]

    rasa_main()


if __name__ == "__main__":
    main()
