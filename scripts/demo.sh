#!/usr/bin/env bash
# The main job: certify the shipped model on shipped test images and print Cohen et al.'s TSV
# (idx label predict radius correct time) and a summary table. Extra arguments go to rsc-cli
# certify (e.g. --n 100000 --count 20).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
swift build -c release --product rsc-cli >/dev/null
.build/release/rsc-cli info models/demo/fmnist_demo.rscm
echo
.build/release/rsc-cli certify models/demo/fmnist_demo.rscm models/demo/test_images.npy \
    --labels models/demo/test_labels.npy --n0 100 --n 10000 --alpha 0.001 "$@"
