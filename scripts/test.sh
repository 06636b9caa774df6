#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, builds, installs rsc into a
# temporary prefix, runs the Swift tests, then the Python tests (including the C and Swift
# examples) against the package installed into a fresh virtualenv, then the suite under
# AddressSanitizer/UndefinedBehaviorSanitizer/ThreadSanitizer and a one-minute fuzz of the loader
# and the input path (docs/reliability.md). This is what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== swift build -c release (librsc.so, rsc-cli, rsc-swift-example)"
swift build -c release
echo "== swift test"
swift test

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== install into a temporary prefix"
bash scripts/install.sh "$work/prefix"
echo "== python package in a fresh virtualenv"
# --system-site-packages: reuse the numpy/scipy/torch that setup.sh installed instead of
# downloading them again; the rsc package itself comes only from this install, whose librsc.so
# build (bindings/python/setup.py) reuses install.sh's (.build/dist-lib, the same flags).
# tests/test_pip_install.py installs from a clean clone into a bare virtualenv (one more build).
python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install --quiet --no-build-isolation "./bindings/python[progress,plot,test]"
echo "== python tests"
(cd "$work" && RSC_TEST_INSTALLED=1 RSC_TEST_REQUIRE_EXTRAS=1 RSC_TEST_PREFIX="$work/prefix" \
    "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$OLDPWD/bindings/python/tests")
echo "== sanitizers (scripts/sanitize.sh --quick)"
# Their builds go inside this checkout, so concurrent checkouts never share a scratch directory.
RSC_SANITIZE_BUILD=$PWD/.build/sanitize bash scripts/sanitize.sh --quick
echo "== fuzzing, one minute (scripts/fuzz.sh 60)"
RSC_FUZZ_BUILD=$PWD/.build/fuzz bash scripts/fuzz.sh 60
echo "== all tests passed"
