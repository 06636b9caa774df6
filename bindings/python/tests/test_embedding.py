"""rsc from C and Swift, as their users would use it: the public header compiles as C99 and C++,
the C example builds against an installed prefix through pkg-config and runs in a clean
environment, the Swift example runs, and both agree with this binding; README snippets are the
code these tests run."""
import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import rsc

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "models" / "demo"
README = (REPO / "README.md").read_text()


def expected_line(index: int, seed: int) -> tuple[int, float, float]:
    x = np.load(DEMO / "test_images.npy")[index]
    c = rsc.load(DEMO / "fmnist_demo.rscm").certify(x, seed=seed)
    return c.label, c.radius, c.pa_lower


def parse(line: str) -> tuple[int, float, float]:
    m = re.match(r"class (\d+) \(.*\) radius ([0-9.e-]+) pA ([0-9.e-]+)", line.strip())
    assert m, line
    return int(m[1]), float(m[2]), float(m[3])


@pytest.mark.parametrize("compiler,flags", [("cc", ["-std=c99"]), ("c++", ["-std=c++11", "-x", "c++"])])
def test_header_compiles_cleanly(compiler, flags, tmp_path):
    src = tmp_path / "use.c"
    src.write_text('#include "rsc.h"\nint main(void) { rsc_certify_params p = rsc_certify_default_params();\n'
                   "  rsc_certificate c = rsc_certificate_init();\n"
                   "  return (int)p.n0 == 100 && c.struct_size == sizeof c ? 0 : 1; }\n")
    subprocess.run([compiler, *flags, "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", str(REPO / "include"),
                    "-c", str(src), "-o", str(tmp_path / "use.o")], check=True)


def test_c_example_via_pkg_config_in_clean_env(prefix, tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    shutil.copy(REPO / "bindings" / "c" / "certify.c", build)
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    env.pop("LD_LIBRARY_PATH", None)
    subprocess.run("cc certify.c $(pkg-config --cflags --libs rsc) -o certify", shell=True, cwd=build,
                   env=env, check=True)
    np.load(DEMO / "test_images.npy")[5].astype("<f4").tofile(tmp_path / "x.f32")
    out = subprocess.run(["env", "-i", str(build / "certify"), str(DEMO / "fmnist_demo.rscm"),
                          str(tmp_path / "x.f32"), "11"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    label, radius, pa = parse(out.stdout)
    want = expected_line(5, 11)
    assert label == want[0] and radius == pytest.approx(want[1], abs=1e-8) and pa == pytest.approx(want[2], abs=1e-8)
    # Errors: status checked, message printed, non-zero exit.
    bad = subprocess.run(["env", "-i", str(build / "certify"), str(tmp_path / "missing.rscm"), str(tmp_path / "x.f32")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "missing.rscm" in bad.stderr
    # The library is self-contained: no Swift runtime, exactly the C API exported.
    lib = (prefix / "lib" / "librsc.so").resolve()
    needed = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
    assert "swift" not in needed.lower() and "librsc.so.0" in needed
    # Every defined dynamic symbol, not only rsc_*: no Swift runtime ($s...), libdispatch or C++
    # symbols beside the header's calls, local ones (which gold left in .dynsym) included.
    exported = {l.split()[-1] for l in subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True,
                text=True, check=True).stdout.splitlines()}
    assert exported == declared()
    assert {"rsc_certify", "rsc_certify_sequential", "rsc_load_from_memory", "rsc_certify_batch",
            "rsc_certificate_init"} <= exported


def declared() -> set[str]:
    return set(re.findall(r"^RSC_API[^;]*?\b(rsc_\w+)\s*\(", (REPO / "include" / "rsc.h").read_text(), re.M))


def test_installed_library_size(prefix):
    """The stripped, self-contained librsc.so stays small (README states its size): 14 MB with
    FoundationEssentials linked in, 58 MB with Foundation."""
    lib = (prefix / "lib" / "librsc.so").resolve()
    assert lib.stat().st_size <= 10 * 2**20, f"{lib} is {lib.stat().st_size / 2**20:.1f} MiB"
    m = re.search(r"installed `librsc.so` is about ([0-9.]+) MB", README)
    assert m, "README states the installed library's size"
    assert abs(float(m[1]) * 1e6 - lib.stat().st_size) <= 1.5e6, (m[1], lib.stat().st_size)


def compilers() -> list[tuple[str, str, str]]:
    """(name, C compiler, C++ compiler): gcc, and the Swift toolchain's clang."""
    clang = Path(shutil.which("swift") or "/opt/swift/usr/bin/swift").resolve().parent / "clang"
    return [("gcc", "gcc", "g++"), ("clang", str(clang), str(clang) + "++")]


STRICT = ["-Wall", "-Wextra", "-Werror", "-pedantic"]
BUILDS = [(name, std) for name, _, _ in compilers() for std in ("c99", "c++17")]

# The README's C snippet in a program: argv, x and info in scope as in bindings/c/certify.c.
SNIPPET_MAIN = r"""
#include <rsc.h>
#include <stdio.h>
#include <stdlib.h>

static int snippet(char **argv, const float *x, struct rsc_model_info info) {
%s
    if (status != RSC_OK) {
        fprintf(stderr, "%%s\n", rsc_last_error());
        return 1;
    }
    if (cert.label == RSC_ABSTAIN) printf("abstain pA %%.9f\n", cert.pa_lower);
    else printf("class %%d (?) radius %%.9f pA %%.9f\n", cert.label, cert.radius, cert.pa_lower);
    return 0;
}

int main(int argc, char **argv) {
    rsc_model *m = NULL;
    struct rsc_model_info info = rsc_model_info_init();
    if (argc < 3 || rsc_load(argv[1], &m) != RSC_OK || rsc_model_info(m, &info) != RSC_OK) return 2;
    rsc_free(m);
    float *x = (float *)malloc(info.input_len * sizeof *x);
    FILE *f = fopen(argv[2], "rb");
    const size_t got = (x && f) ? fread(x, sizeof *x, info.input_len, f) : 0;
    if (f) fclose(f);
    const int r = got == info.input_len ? snippet(argv, x, info) : 2;
    free(x);
    return r;
}
"""


def strict_build(prefix, tmp_path, source: Path, name: str, std: str) -> Path:
    _, cc, cxx = next(c for c in compilers() if c[0] == name)
    lang = ["-x", "c++"] if std.startswith("c++") else []
    exe = tmp_path / f"{source.stem}-{name}-{std}"
    lib = prefix / "lib"
    subprocess.run([cxx if lang else cc, f"-std={std}", *STRICT, *lang, "-I", str(prefix / "include"), str(source),
                    "-L", str(lib), "-lrsc", f"-Wl,-rpath,{lib}", "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return exe


@pytest.mark.parametrize("name,std", BUILDS)
def test_example_and_readme_snippet_build_strict(prefix, tmp_path, name, std):
    """bindings/c/certify.c and the README's C snippet compile without a warning as C99 and C++17
    under -Wall -Wextra -Werror -pedantic with gcc and clang, link against the installed library
    and certify the shipped demo model as this binding does."""
    snippet_src = tmp_path / "readme_snippet.c"
    snippet_src.write_text(SNIPPET_MAIN % snippet("c"))
    np.load(DEMO / "test_images.npy")[2].astype("<f4").tofile(tmp_path / "x.f32")
    want = expected_line(2, 0)
    for source, args in [(REPO / "bindings" / "c" / "certify.c", ["0"]), (snippet_src, [])]:
        try:
            exe = strict_build(prefix, tmp_path, source, name, std)
        except subprocess.CalledProcessError as e:
            pytest.fail(f"{source.name} as {std} with {name}:\n{e.stderr}")
        out = subprocess.run([str(exe), str(DEMO / "fmnist_demo.rscm"), str(tmp_path / "x.f32"), *args],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        label, radius, pa = parse(out.stdout)
        assert label == want[0] and radius == pytest.approx(want[1], abs=1e-8) and pa == pytest.approx(want[2], abs=1e-8)


SWIFT_EXAMPLE = REPO / ".build" / "release" / "rsc-swift-example"


def test_swift_example_agrees(tmp_path):
    assert SWIFT_EXAMPLE.exists(), "swift build -c release builds rsc-swift-example"
    # From another directory, without arguments: the shipped demo model and images, image 0.
    out = subprocess.run([str(SWIFT_EXAMPLE)], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    label, radius, pa = parse(out.stdout)
    want = expected_line(0, 3)
    assert label == want[0] and radius == pytest.approx(want[1], abs=1e-12) and pa == pytest.approx(want[2], abs=1e-12)
    # MODEL IMAGES INDEX, relative to the working directory; images read by RSCData (an idx.gz copy).
    images = np.load(DEMO / "test_images.npy")
    shutil.copy(DEMO / "fmnist_demo.rscm", tmp_path)
    u8 = np.round(images[:6, 0] * 255).astype(np.uint8)  # idx holds uint8 pixels, read as / 255
    with gzip.open(tmp_path / "six-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.array(u8.shape, ">u4").tobytes() + u8.tobytes())
    out = subprocess.run([str(SWIFT_EXAMPLE), "fmnist_demo.rscm", "six-idx3-ubyte.gz", "5"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    c = rsc.load(DEMO / "fmnist_demo.rscm").certify(u8[5][None] / np.float32(255), seed=3)
    label, radius, pa = parse(out.stdout)
    assert label == c.label and radius == pytest.approx(c.radius, abs=1e-12) and pa == pytest.approx(c.pa_lower, abs=1e-12)


@pytest.mark.parametrize("args,message", [
    (["missing.rscm"], "missing.rscm"),
    (["fmnist_demo.rscm", "missing.npy"], "missing.npy"),
    (["fmnist_demo.rscm", "images.npy", "20"], "has 20 images, no image 20"),
    (["fmnist_demo.rscm", "images.npy", "x"], "INDEX 'x'"),
])
def test_swift_example_errors(tmp_path, args, message):
    shutil.copy(DEMO / "fmnist_demo.rscm", tmp_path)
    shutil.copy(DEMO / "test_images.npy", tmp_path / "images.npy")
    out = subprocess.run([str(SWIFT_EXAMPLE), *args], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 1 and message in out.stderr, out.stdout + out.stderr


def snippet(lang: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", README, re.S)
    assert blocks, f"README has no {lang} snippet"
    return blocks[0]


def lines_of(text: str) -> list[str]:
    return [l.strip() for l in text.splitlines() if l.strip()]


def test_readme_c_snippet_is_the_tested_example():
    example = lines_of((REPO / "bindings" / "c" / "certify.c").read_text())
    for line in lines_of(snippet("c")):
        assert line in example, f"README C line not in bindings/c/certify.c: {line}"


def test_readme_swift_snippet_is_the_tested_example():
    source = (REPO / "Examples" / "Swift" / "main.swift").read_text()
    tested = lines_of(source.split("// snippet: swift")[1].split("// end snippet")[0])
    assert lines_of(snippet("swift")) == tested


def test_readme_python_snippet_runs(capsys, monkeypatch):
    code = snippet("python")
    monkeypatch.chdir(REPO)  # the snippet's paths are relative to the repository
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert re.match(r"-?\d+ [0-9.e-]+ [0-9.e-]+", out.strip()), out
