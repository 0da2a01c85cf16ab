"""Train the Rasa model only when its inputs changed (content hash, not timestamps).

Inputs: config.yml, bot/ (except bot/tests, which are test data, not training data)
and nlu_data/. The hash of the inputs of the last successful training is kept next to
the model in models/vetrina.sha256.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "vetrina.tar.gz"
STAMP = ROOT / "models" / "vetrina.sha256"


def training_inputs() -> list[Path]:
    files = [ROOT / "config.yml"]
    for folder in ("bot", "nlu_data"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file())
    tests = ROOT / "bot" / "tests"
    return [p for p in files if tests not in p.parents]


def inputs_hash() -> str:
    digest = hashlib.sha256()
    for path in training_inputs():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def main() -> int:
    wanted = inputs_hash()
    if MODEL.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        print(f"model is up to date ({MODEL.relative_to(ROOT)})")
        return 0
    print("training data changed: training the Rasa model…", flush=True)
    started = time.monotonic()
    code = subprocess.call(
        [
            str(ROOT / ".venv-rasa" / "bin" / "rasa"), "train",
            "--config", "config.yml", "--domain", "bot/domain",
            "--data", "nlu_data", "bot/data",
            "--out", "models", "--fixed-model-name", "vetrina",
        ],
        cwd=ROOT,
        env={"SQLALCHEMY_SILENCE_UBER_WARNING": "1", **os.environ},
    )
    if code != 0:
        print("rasa train failed", file=sys.stderr)
        return code
    STAMP.write_text(wanted + "\n")
    print(f"model trained in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
