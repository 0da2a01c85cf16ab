#!/usr/bin/env bash
# The compose trainer (service "model"): trains when the training data changed since the
# model in the volume was built, and does nothing otherwise. The data's hash (file names
# and contents of config.yml, bot/domain, nlu_data/ and bot/data/) is stored next to
# the model as vetrina.sha256. Runs in the project folder; MODELS_DIR and RASA may be
# overridden (tests/test_compose.py runs it with a stand-in for rasa).
set -euo pipefail
models=${MODELS_DIR:-/app/models}
rasa=${RASA:-rasa}

hash=$(find config.yml bot/domain nlu_data bot/data -type f -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)

if [[ -f "$models/vetrina.tar.gz" && "$(cat "$models/vetrina.sha256" 2>/dev/null)" == "$hash" ]]; then
  echo "model up to date (training data $hash)"
  exit 0
fi
echo "training data changed ($hash): training"
"$rasa" train --config config.yml --domain bot/domain --data nlu_data bot/data \
  --out "$models" --fixed-model-name vetrina
echo "$hash" > "$models/vetrina.sha256.tmp"
mv "$models/vetrina.sha256.tmp" "$models/vetrina.sha256"
