"""Ships a librsc.so inside the package when one is at hand: $RSC_LIBRARY, else the repo's
self-contained build (.build/dist-lib, from scripts/install.sh), else its development build.
Metadata lives in pyproject.toml."""
import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

REPO = Path(__file__).resolve().parent.parent.parent


def _library():
    candidates = [os.environ.get("RSC_LIBRARY"), REPO / ".build/dist-lib/release/librsc.so",
                  REPO / ".build/release/librsc.so"]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = _library()
        if lib is not None:
            target = Path(self.build_lib) / "rsc" / "librsc.so"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib, target)


setup(cmdclass={"build_py": BuildWithLibrary})
