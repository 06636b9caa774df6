#!/usr/bin/env bash
# Installs what rsc needs and is missing, and nothing else; safe to run again.
#   Debian: libomp-dev (OpenMP runtime and omp.h for the kernel), dataset-fashion-mnist (data sets
#   for tests and examples), gcc/g++/binutils/pkg-config (C example and ABI tests).
#   Python: numpy, scipy, pytest, tqdm, matplotlib, setuptools, wheel, distributed (Dask), and the
#   converters' peers: torch (CPU build), snntorch, nir, nirtorch, spikingjelly (+ loguru).
set -euo pipefail

need_apt=()
[ -f /usr/lib/llvm-14/lib/clang/14.0.6/include/omp.h ] && [ -e /usr/lib/x86_64-linux-gnu/libomp5.so ] \
    || need_apt+=(libomp-dev)
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
