"""Issue 16, `pip install`: from a clean clone with nothing built, `pip install ./bindings/python`
into a bare virtualenv (no system site-packages) builds the self-contained librsc.so and ships
it; the installed package certifies like the library under test from any directory; `pip wheel`
gives a py3-none-<platform> wheel holding the stripped library; the library is never looked up
in the current directory. The clean install builds librsc.so from scratch (1-2 minutes on 2
cores). `git clone` takes the committed HEAD: uncommitted edits to the build are not what it tests."""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import rsc
from rsc import _native

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "models" / "fmnist_sigma025.rscm"
IMAGES = REPO / "models" / "data" / "fmnist_test_1000_images.npy"
MAJOR = re.search(r"^#define RSC_VERSION_MAJOR (\d+)$", (REPO / "include/rsc.h").read_text(), re.M)[1]
CERTIFY = dict(n0=50, n=500, seed=7)


def clean_env(**extra) -> dict:
    """No RSC_LIBRARY and no PYTHONPATH: what the installed package finds on its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("RSC_LIBRARY", "PYTHONPATH")}
    return dict(env, **extra)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{cmd}:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean clone of this checkout, `pip install`ed into a bare virtualenv, and `pip wheel`."""
    tmp = tmp_path_factory.mktemp("pip")
    clone, venv, wheels = tmp / "clone", tmp / "venv", tmp / "wheels"
    run(["git", "clone", "-q", REPO, clone])
    assert not (clone / ".build").exists() and not (clone / "bindings/python/rsc/librsc.so").exists()
    run([sys.executable, "-m", "venv", venv])
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    python = venv / "bin" / "python"
    start = time.monotonic()
    run([python, "-m", "pip", "install", "--quiet", clone / "bindings/python"], env=clean_env(), cwd=tmp)
    install_s = time.monotonic() - start
    start = time.monotonic()  # the same checkout: the wheel reuses the install's library build
    run([python, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, clone / "bindings/python"],
        env=clean_env(), cwd=tmp)
    print(f"\npip install from a clean clone {install_s:.0f} s, pip wheel {time.monotonic() - start:.0f} s")
    return dict(tmp=tmp, clone=clone, python=python, wheels=wheels)


def test_clean_install_certifies_like_the_library_under_test(clean):
    elsewhere = clean["tmp"] / "elsewhere"  # neither the clone nor this checkout
    elsewhere.mkdir()
    code = ("import json, sys, numpy as np, rsc\nfrom rsc import _native\n"
            f"c = rsc.load({str(MODEL)!r}).certify(np.load({str(IMAGES)!r})[3], **{CERTIFY!r})\n"
            "print(json.dumps([c.label, c.radius, c.pa_lower, _native.lib()._name, rsc.__file__]))")
    out = run([clean["python"], "-c", code], env=clean_env(), cwd=elsewhere)
    label, radius, pa_lower, lib, module = json.loads(out.stdout)
    site = Path(module).parent
    assert Path(lib) == site / "librsc.so" and "site-packages" in site.parts, (lib, module)
    want = rsc.load(MODEL).certify(np.load(IMAGES)[3], **CERTIFY)
    assert (label, radius, pa_lower) == (want.label, want.radius, want.pa_lower)


def test_wheel_is_platform_tagged_and_ships_the_stripped_self_contained_library(clean, tmp_path):
    platform = re.sub(r"[-.]", "_", sysconfig.get_platform())
    wheel, = clean["wheels"].glob("rsc-*.whl")
    assert wheel.name.endswith(f"-py3-none-{platform}.whl"), wheel.name
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/WHEEL"))).decode()
        assert "Root-Is-Purelib: false" in meta and f"Tag: py3-none-{platform}" in meta, meta
        z.extract("rsc/librsc.so", tmp_path)
    lib = tmp_path / "rsc" / "librsc.so"
    installed = next(clean["tmp"].glob("venv/lib/python*/site-packages/rsc/librsc.so"))
    assert lib.read_bytes() == installed.read_bytes()
    dynamic = run(["readelf", "-d", lib]).stdout
    needed = re.findall(r"\(NEEDED\).*\[(.*)\]", dynamic)
    assert not [n for n in needed if "swift" in n.lower() or "foundation" in n.lower()], needed
    assert "libomp.so.5" in needed and f"[librsc.so.{MAJOR}]" in dynamic  # the install.sh soname
    assert ".symtab" not in run(["readelf", "-S", "-W", lib]).stdout  # stripped
    symbols = [l.split() for l in run(["nm", "-D", "--defined-only", lib]).stdout.splitlines()]
    exported = {name for _, kind, name in symbols if kind.isupper()}  # global: the version script's
    assert exported and all(s.startswith("rsc_") for s in exported), sorted(exported)[:20]


def test_build_errors_are_clear(clean, tmp_path):
    """No sdist; no `swift`: say how to get it or how to ship a prebuilt library; RSC_LIBRARY
    ships a prebuilt self-contained library but refuses a toolchain-linked one."""
    package = clean["clone"] / "bindings" / "python"
    setup = [sys.executable, "setup.py"]
    out = subprocess.run([*setup, "sdist", "-d", tmp_path], cwd=package, capture_output=True, text=True)
    assert out.returncode != 0 and "rsc has no sdist" in out.stderr and "pip wheel" in out.stderr, out.stderr
    build = [*setup, "build_py", "-d", tmp_path / "lib"]
    dirs = os.environ["PATH"].split(os.pathsep)
    no_swift = os.pathsep.join(d for d in dirs if not (Path(d) / "swift").exists())
    out = subprocess.run(build, cwd=package, env=clean_env(PATH=no_swift), capture_output=True, text=True)
    assert out.returncode != 0 and "`swift` not found" in out.stderr and "RSC_LIBRARY" in out.stderr, out.stderr
    prebuilt = next(clean["tmp"].glob("venv/lib/python*/site-packages/rsc/librsc.so"))
    run(build, cwd=package, env=clean_env(PATH=no_swift, RSC_LIBRARY=str(prebuilt)))
    assert (tmp_path / "lib" / "rsc" / "librsc.so").read_bytes() == prebuilt.read_bytes()
    dev = REPO / ".build" / "release" / "librsc.so"  # the test command's development build
    assert dev.is_file(), "build the library first: swift build -c release"
    out = subprocess.run(build, cwd=package, env=clean_env(RSC_LIBRARY=str(dev)), capture_output=True,
                         text=True)
    assert out.returncode != 0 and "needs the Swift runtime" in out.stderr and "libswiftCore" in out.stderr, \
        out.stderr


def test_lookup_ignores_the_current_directory(tmp_path):
    """A package without a library, run from a checkout with a build, does not load that build:
    what loads must not depend on where Python was started."""
    pkg = tmp_path / "pkg" / "rsc"
    pkg.mkdir(parents=True)
    for f in Path(rsc.__file__).parent.glob("*.py"):
        shutil.copy(f, pkg / f.name)
    code = ("from rsc import _native\nprint('\\n'.join(map(str, _native._candidates())))\n"
            "try:\n    _native.lib()\nexcept OSError as e:\n    print('error:', e)\n")
    out = run([sys.executable, "-c", code], cwd=REPO, env=clean_env(PYTHONPATH=str(pkg.parent)))
    candidates = out.stdout.split("error:")[0].split()
    assert candidates == [str(pkg / "librsc.so")], out.stdout
    assert "librsc.so not found" in out.stdout and "pip install ./bindings/python" in out.stdout


def test_source_checkout_finds_its_build_from_any_directory(tmp_path):
    code = "from rsc import _native\nprint(_native.lib()._name)"
    out = run([sys.executable, "-c", code], cwd=tmp_path,
              env=clean_env(PYTHONPATH=str(REPO / "bindings" / "python")))
    assert Path(out.stdout.strip()).is_relative_to(REPO / ".build"), out.stdout
