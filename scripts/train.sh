#!/usr/bin/env bash
# The main job: installs what is missing, builds, trains the default model (the spiking
# Fashion-MNIST MLP of models/fashion_mnist_mlp.json, rate-trained as NengoDL does) and
# reports its spiking test accuracy.
#
# Usage: bash scripts/train.sh [SPEC.json] [extra snn-train flags, e.g. --epochs 2]
# Environment: as scripts/setup.sh (SNN_BUILD_DIR, ...); SNN_RUN_DIR (default:
# runs/<spec name>).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${SNN_BUILD_DIR:-build}
spec=models/fashion_mnist_mlp.json
if (($#)) && [[ $1 == *.json ]]; then
  spec=$1
  shift
fi
name=$(basename "$spec" .json)
run_dir=${SNN_RUN_DIR:-runs/$name}

bash scripts/setup.sh

snn_train=$build_dir/tools/snn-train
if [[ ! -x $snn_train ]]; then
  echo "train: snn-train was not built (looked for $snn_train)" >&2
  exit 1
fi

echo "train: $spec -> $run_dir"
"$snn_train" "$spec" --out "$run_dir" "$@"

# The last epoch's validation is the spiking test accuracy (the spec validates on
# fashion-mnist:test, run spiking for its validation_steps).
python3 - "$run_dir/metrics.jsonl" << 'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
last = lines[-1]
acc = last.get("val_accuracy")
if acc is None:
    print(f"train: {len(lines)} epochs, final loss {last['loss']:.4f}")
else:
    print(f"train: spiking test accuracy {100 * acc:.2f}% after {last['epoch']} epochs "
          f"(loss {last['loss']:.4f}); checkpoint in {sys.argv[1].rsplit('/', 1)[0]}/checkpoint.pt")
PY
