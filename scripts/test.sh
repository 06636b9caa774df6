#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, builds, runs the Swift and
# Python tests. This is what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== swift build -c release (librsc.so, rsc-cli)"
swift build -c release
echo "== swift test"
swift test
echo "== python tests"
RSC_LIBRARY="$PWD/.build/release/librsc.so" python3 -m pytest -q bindings/python/tests
echo "== all tests passed"
