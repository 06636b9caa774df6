"""The ABI: exported symbols equal the header's declarations, and the ctypes structs match the
C compiler's layout of include/rsc.h."""
import re
import shutil
import subprocess
from pathlib import Path

from rsc import _native

REPO = Path(__file__).resolve().parents[3]
HEADER = REPO / "include" / "rsc.h"


def declared() -> set[str]:
    return set(re.findall(r"^RSC_API[^;]*?\b(rsc_\w+)\s*\(", HEADER.read_text(), re.M))


def test_exported_symbols_are_exactly_the_header(librsc):
    nm = shutil.which("nm") or shutil.which("llvm-nm")
    out = subprocess.run([nm, "-D", "--defined-only", librsc._name], capture_output=True, text=True, check=True).stdout
    exported = {line.split()[-1] for line in out.splitlines() if re.search(r"\brsc_\w+$", line)}
    assert {"rsc_load", "rsc_free", "rsc_model_info", "rsc_forward", "rsc_predict", "rsc_certify",
            "rsc_last_error", "rsc_version", "rsc_set_num_threads", "rsc_certify_sequential",
            "rsc_certify_sequential_default_params"} <= declared()
    assert exported == declared()


def test_struct_layout_matches_header(tmp_path):
    structs = {"struct rsc_model_info": _native.ModelInfo, "rsc_predict_params": _native.PredictParams,
               "rsc_prediction": _native.Prediction, "rsc_certify_params": _native.CertifyParams,
               "rsc_certificate": _native.Certificate, "rsc_sequential_params": _native.SequentialParams,
               "rsc_sequential_certificate": _native.SequentialCertificate,
               "rsc_load_options": _native.LoadOptions}
    lines = []
    for cname, cls in structs.items():
        lines.append(f'printf("{cname} size %zu\\n", sizeof({cname}));')
        for field, _ in cls._fields_:
            lines.append(f'printf("{cname} {field} %zu\\n", offsetof({cname}, {field}));')
    src = tmp_path / "layout.c"
    src.write_text('#include <stddef.h>\n#include <stdio.h>\n#include "rsc.h"\nint main(void) {\n'
                   + "\n".join(lines) + "\nreturn 0;\n}\n")
    exe = tmp_path / "layout"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", str(HEADER.parent), str(src), "-o", str(exe)], check=True)
    got = dict(line.rsplit(" ", 1) for line in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines())
    for cname, cls in structs.items():
        assert int(got[f"{cname} size"]) == __import__("ctypes").sizeof(cls), cname
        for field, _ in cls._fields_:
            assert int(got[f"{cname} {field}"]) == getattr(cls, field).offset, (cname, field)
