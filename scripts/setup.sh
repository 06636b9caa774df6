#!/usr/bin/env bash
# Installs what rsc needs and is missing, and nothing else; safe to run again.
#   Debian: libomp-dev (the OpenMP runtime the kernel links), dataset-fashion-mnist (data sets
#   for tests and examples), gcc/g++/binutils/pkg-config (C example and ABI tests).
#   Python: numpy, scipy, pytest, tqdm, matplotlib, setuptools, wheel, distributed (Dask), and the
#   converters' peers: torch (CPU build), snntorch, nir, nirtorch, spikingjelly (+ loguru).
set -euo pipefail

need_apt=()
# The OpenMP runtime, found as Package.swift finds it (the kernel needs no omp.h).
. "$(dirname "$0")/openmp.sh"
rsc_omp_lib >/dev/null || need_apt+=(libomp-dev)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
for tool in cc c++ nm strip; do command -v "$tool" >/dev/null || need_apt+=(binutils gcc g++); done
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: apt-get install ${need_apt[*]}" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh image has empty package lists: update once, then install.
    $sudo apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null 2>&1 \
        || { $sudo apt-get update -qq && $sudo apt-get install -y --no-install-recommends "${need_apt[@]}"; }
fi

PY=${PYTHON:-python3}
need_pip=()
for mod in numpy scipy pytest tqdm matplotlib setuptools wheel; do "$PY" -c "import $mod" 2>/dev/null || need_pip+=("$mod"); done
if [ ${#need_pip[@]} -gt 0 ]; then
    echo "setup: pip install ${need_pip[*]}" >&2
    "$PY" -m pip install --quiet "${need_pip[@]}"
fi
# Dask's distributed, pinned to the tested version (rsc.distributed).
"$PY" -c "import distributed" 2>/dev/null || { echo "setup: pip install distributed==2026.8.0" >&2; "$PY" -m pip install --quiet "distributed==2026.8.0"; }
# The converters and their peer tests: torch pinned to the CPU build this machine kind installs
# (an unpinned torch pulls a ~3 GB CUDA build); the others are constrained to keep that torch.
"$PY" -c "import torch" 2>/dev/null || { echo "setup: pip install torch==2.13.0" >&2; "$PY" -m pip install --quiet "torch==2.13.0"; }
need_pip=()
for pkg in snntorch==1.0.0 nir==1.0.8 nirtorch==2.6; do "$PY" -c "import ${pkg%%=*}" 2>/dev/null || need_pip+=("$pkg"); done
if [ ${#need_pip[@]} -gt 0 ]; then
    echo "setup: pip install ${need_pip[*]}" >&2
    "$PY" -m pip install --quiet -c <(echo "torch==$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')") "${need_pip[@]}"
fi
# SpikingJelly (rsc.convert.spikingjelly and its tests), pinned. Its package declares torchvision and
# torchaudio, whose builds must match torch's (torchvision 0.28 installs beside this CPU torch but
# cannot load its operators): install it without dependencies, plus the light ones its
# activation_based modules import (loguru; h5py comes with nir). Its model zoo imports torchvision
# only for pretrained weights: rsc.convert.spikingjelly.import_zoo stands in for that one name.
"$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('spikingjelly') != '2.0.0')" 2>/dev/null \
    || { echo "setup: pip install --no-deps spikingjelly==2.0.0" >&2; "$PY" -m pip install --quiet --no-deps "spikingjelly==2.0.0"; }
need_pip=()
for pkg in loguru==0.7.3 h5py; do "$PY" -c "import ${pkg%%=*}" 2>/dev/null || need_pip+=("$pkg"); done
if [ ${#need_pip[@]} -gt 0 ]; then
    echo "setup: pip install ${need_pip[*]}" >&2
    "$PY" -m pip install --quiet "${need_pip[@]}"
fi
# Norse (rsc.convert.nir's peer test), pinned. It declares torchvision, which this CPU torch cannot
# load (see above); only norse.task imports it, so it is installed without dependencies (numpy,
# torch, nir and nirtorch are installed above).
"$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('norse') != '1.1.0')" 2>/dev/null \
    || { echo "setup: pip install --no-deps norse==1.1.0" >&2; "$PY" -m pip install --quiet --no-deps "norse==1.1.0"; }
# Sinabs 3.1.3 requires nir <= 1.0.4, beside the nir 1.0.8 above: it gets a virtualenv of its own
# (tests/test_convert_nir_sinabs.py runs its script there), reusing this torch through
# --system-site-packages. Sinabs also declares samna (its chips' runtime: not imported by sinabs,
# sinabs.layers or sinabs.nir) and matplotlib (installed above): installed without dependencies,
# plus pbr, nir 1.0.4 and nirtorch 2.0.2, torch held at the system's build.
SINABS_VENV=${RSC_SINABS_VENV:-$HOME/.cache/rsc/venv-sinabs}
if ! "$SINABS_VENV/bin/python" -c "import importlib.metadata as m, sys
want = {'sinabs': '3.1.3', 'nir': '1.0.4', 'nirtorch': '2.0.2'}
sys.exit(any(m.version(k) != v for k, v in want.items()))" 2>/dev/null; then
    echo "setup: Sinabs virtualenv at $SINABS_VENV (sinabs==3.1.3 nir==1.0.4 nirtorch==2.0.2)" >&2
    "$PY" -m venv --system-site-packages "$SINABS_VENV"
    torch_pin="torch==$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
    "$SINABS_VENV/bin/python" -m pip install --quiet -c <(echo "$torch_pin") "nir==1.0.4" "nirtorch==2.0.2" pbr
    "$SINABS_VENV/bin/python" -m pip install --quiet --no-deps "sinabs==3.1.3"
fi
