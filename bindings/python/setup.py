"""Builds the self-contained librsc.so and ships it as rsc/librsc.so (as llama-cpp-python builds
llama.cpp): `pip install ./bindings/python` and `pip wheel ./bindings/python` run
scripts/build_lib.sh (the release build of librsc.so with -static-stdlib, its soname and the
version script that exports only rsc_*) on the Swift package at the repository root (../..),
with scripts/install.sh's scratch path (.build/dist-lib: the same script, so either reuses the
other's build and nothing else can land there), then strip the copy. The wheel is tagged py3-none-<platform>: ctypes loads the library,
so any Python 3 can use it, on this platform only. At run time the library needs libc, libstdc++
and libomp.so.5 (Debian: libomp5), no Swift runtime.

RSC_LIBRARY=/path/to/librsc.so ships that prebuilt library instead of building (a machine
without Swift); a toolchain-linked one (needing libswiftCore.so) is refused.

No sdist: the Swift sources live at the repository root, outside this directory. Build a wheel
from a checkout or a git URL (`pip install "git+URL#subdirectory=bindings/python"`).
Metadata lives in pyproject.toml."""
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

try:
    from setuptools.command.bdist_wheel import bdist_wheel  # setuptools >= 70.1
except ImportError:  # an older setuptools under --no-build-isolation
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRATCH = REPO / ".build" / "dist-lib"  # scripts/install.sh's


def _fail(message: str):
    # SystemExit with a message: pip prints it as the build's last line, without a traceback.
    raise SystemExit("error: " + message)


def _needed(path: Path) -> list[str]:
    """DT_NEEDED entries of an ELF64 little-endian shared library (no binutils needed)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        _fail(f"{path} is not an ELF64 little-endian shared library")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    for _, sh_type, _, _, offset, size, link, _, _, _ in sections:
        if sh_type == 6:  # SHT_DYNAMIC; sh_link is its string table
            strtab = sections[link][4]
            tags = (struct.unpack_from("<qQ", data, offset + i) for i in range(0, size, 16))
            return [data[strtab + v:data.index(b"\0", strtab + v)].decode() for t, v in tags if t == 1]
    return []


def _swift_package() -> Path:
    if (REPO / "Package.swift").is_file() and (REPO / "bindings" / "python") == HERE:
        return REPO
    _fail(f"the Swift package of rsc is not at {REPO} (../..): build this package from a checkout "
          "of the rsc repository (pip >= 21.3 builds a local directory in place; an older pip "
          "copies bindings/python alone), or set RSC_LIBRARY to a prebuilt librsc.so")


def _build_library() -> Path:
    """The self-contained release build of librsc.so (unstripped, in the scratch path)."""
    swift = shutil.which("swift")
    if swift is None:
        _fail("`swift` not found on PATH. Building the rsc package compiles librsc.so from the "
              "Swift sources: install a Swift toolchain (https://www.swift.org/install/; Package.swift "
              "names the oldest it accepts) "
              "and libomp-dev, or build librsc.so elsewhere (bash scripts/install.sh PREFIX) and "
              "install with RSC_LIBRARY=PREFIX/lib/librsc.so, which ships that file instead.")
    root = _swift_package()
    cmd = ["bash", str(root / "scripts" / "build_lib.sh"), str(SCRATCH)]
    print("building librsc.so (a minute or more from scratch):", " ".join(cmd), flush=True)
    start = time.monotonic()
    if subprocess.run(cmd, cwd=root).returncode != 0:
        _fail("`swift build` of librsc.so failed (output above). It needs libomp-dev "
              "(Debian/Ubuntu: apt-get install libomp-dev; bash scripts/setup.sh installs it).")
    print(f"built librsc.so in {time.monotonic() - start:.0f} s", flush=True)
    return SCRATCH / "release" / "librsc.so"


def _strip(path: Path):
    tool = shutil.which("strip") or shutil.which("llvm-strip")
    if tool is None:
        _fail("neither `strip` (binutils) nor `llvm-strip` found: needed to strip librsc.so")
    subprocess.run([tool, "--strip-unneeded", str(path)], check=True)


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        prebuilt = os.environ.get("RSC_LIBRARY")
        source = Path(prebuilt) if prebuilt else _build_library()
        if not source.is_file():
            _fail(f"RSC_LIBRARY={prebuilt} is not a file")
        toolchain = ("libswift", "libFoundation", "libdispatch")
        swift_runtime = [n for n in _needed(source) if n.startswith(toolchain)]
        if swift_runtime:  # a development build: it would not load without the toolchain
            _fail(f"{source} needs the Swift runtime ({', '.join(swift_runtime)}); ship the "
                  "self-contained library (scripts/install.sh builds one) or unset RSC_LIBRARY")
        target = Path(self.build_lib) / "rsc" / "librsc.so"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        os.chmod(target, 0o755)
        _strip(target)


class WithNativeLibrary(Distribution):
    """Not pure Python: installs into platlib, and the wheel is tagged for this platform."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """py3-none-<platform>, not cp3X-cp3X-<platform>: no Python extension, ctypes loads the library."""

    def get_tag(self):
        return ("py3", "none", super().get_tag()[2])


class NoSdist(sdist):
    def run(self):
        _fail("rsc has no sdist: librsc.so is built from the Swift package at the repository "
              "root, outside bindings/python. Build a wheel instead: `pip wheel ./bindings/python` "
              "or `python -m build --wheel bindings/python`, or install from a checkout or "
              "`pip install \"git+URL#subdirectory=bindings/python\"`.")


setup(distclass=WithNativeLibrary,
      cmdclass={"build_py": BuildWithLibrary, "bdist_wheel": PlatformWheel, "sdist": NoSdist})
