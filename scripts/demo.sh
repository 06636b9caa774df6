#!/usr/bin/env bash
# The main job: certify the shipped sigma = 0.25 RSC-SNN on the first shipped Fashion-MNIST test
# images with Cohen et al.'s setting (n0 = 100, n = 100000, alpha = 0.001), printing their TSV
# (idx label predict radius correct time) and the certified-accuracy table with a summary line.
# Extra arguments go to rsc-cli certify (e.g. --count 100, --n 10000, --threads 1).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
swift build -c release --product rsc-cli >/dev/null
MODEL=models/fmnist_sigma025.rscm
.build/release/rsc-cli info "$MODEL"
echo
.build/release/rsc-cli certify "$MODEL" models/data/fmnist_test_1000_images.npy \
    --labels models/data/fmnist_test_1000_labels.npy --count 20 --n0 100 --n 100000 --alpha 0.001 "$@"
