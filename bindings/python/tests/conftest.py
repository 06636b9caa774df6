"""Make `import rsc...` work from a source checkout without installing the package."""

import sys
from pathlib import Path

PYTHON_ROOT = Path(__file__).resolve().parent.parent  # bindings/python
REPO_ROOT = PYTHON_ROOT.parent.parent
if str(PYTHON_ROOT) not in sys.path:
    sys.path.insert(0, str(PYTHON_ROOT))
