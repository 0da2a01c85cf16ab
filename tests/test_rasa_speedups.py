"""The launcher's cuts in Rasa (``docker/rasa/run_rasa.py`` ``speed_ups``) keep Rasa's
behaviour: events still resolve by type name, an action server answer that breaks
Rasa's response schema is still refused while a good one passes, and loading a model
still loads it and then freezes the heap out of the garbage collector's way (every
integration test starts Rasa through the launcher with the real model). Run in Rasa's
own venv."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scripts.stack import RASA_PYTHON
from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[1]
CHECK = """
import importlib.util, time
spec = importlib.util.spec_from_file_location("run_rasa", {launcher!r})
run_rasa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_rasa)
import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
schema = RemoteAction.action_response_format_spec()
good = {{"events": [{{"event": "slot", "name": "language", "value": "it"}}], "responses": []}}
bad = {{"events": "not a list"}}

def refused(answer):
    try:
        jsonschema.validate(answer, schema)
    except jsonschema.ValidationError as error:
        return error.message
    return None

before = refused(bad)
import gc
from rasa.core.agent import Agent
loaded = []
Agent.load_model = lambda self, path, fingerprint=None: loaded.append(path)  # Rasa's, stood in
run_rasa.speed_ups()
assert jsonschema.validate is not getattr(jsonschema.validators, "validate")
assert refused(good) is None and refused(bad) == before, (refused(bad), before)
for name, cls in [("user", UserUttered), ("action", ActionExecuted), ("slot", SlotSet)]:
    assert Event.resolve_by_type(name) is cls
assert gc.get_freeze_count() == 0
Agent().load_model("models/x.tar.gz")
assert loaded == ["models/x.tar.gz"] and gc.get_freeze_count() > 10_000, gc.get_freeze_count()
print("same behaviour")
"""


def test_the_speed_ups_keep_rasas_behaviour() -> None:
    if not RASA_PYTHON.exists():
        skip_or_fail(f"Rasa's venv is missing ({RASA_PYTHON}): run `make setup`")
    launcher = str(ROOT / "docker" / "rasa" / "run_rasa.py")
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", CHECK.format(launcher=launcher)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0 and "same behaviour" in result.stdout, result.stderr[-3000:]
