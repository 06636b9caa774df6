"""rsc as a Swift package dependency by version, as a Swift user depends on a release: a consumer
package in a temporary directory depends on a tagged clone of this repository through a file://
URL with `from: "0.1.0"`, imports RSC and RSCData, reads a shipped image with RSCData and
certifies it; the result equals this binding's for the same seed and stream.

The clone holds what is committed (HEAD), not uncommitted changes. The consumer's build is a full
release build of rsc (about 1.5 minutes on 2 shared cores)."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import rsc

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "models" / "fmnist_sigma025.rscm"
IMAGES = REPO / "models" / "data" / "fmnist_test_1000_images.npy"

CONSUMER_MAIN = """\
import Foundation
import RSC
import RSCData

// consumer MODEL IMAGES INDEX SEED N: certify image INDEX on stream INDEX.
let a = CommandLine.arguments
let index = Int(a[3])!
let model = try Model(contentsOf: URL(fileURLWithPath: a[1]))
let images = try Dataset.load(images: URL(fileURLWithPath: a[2]), start: index, count: 1)
let p = CertifyParameters(n0: 100, n: Int(a[5])!, alpha: 0.001, seed: UInt64(a[4])!, stream: UInt64(index))
let cert = try model.certify(Array(images.sample(index)), parameters: p)
print("label \\(cert.label ?? -1) radius \\(cert.radius) pA \\(cert.pALower)")
"""


def version() -> str:
    header = (REPO / "include" / "rsc.h").read_text()
    return ".".join(re.search(rf"#define RSC_VERSION_{k} (\d+)", header)[1] for k in ("MAJOR", "MINOR", "PATCH"))


def run(cmd, cwd, timeout=120):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def consumer(tmp_path_factory):
    """The consumer's executable, built against a tagged clone of this repository's HEAD."""
    assert shutil.which("swift") and shutil.which("git"), "the Swift toolchain and git are on PATH"
    tmp = tmp_path_factory.mktemp("swiftpkg")
    clone = tmp / "rsc"
    run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], tmp)
    # Only this tag: a higher tag copied from the origin would be picked by `from:` instead.
    tags = run(["git", "tag", "--list"], clone).split()
    if tags:
        run(["git", "tag", "--delete", *tags], clone)
    run(["git", "-c", "user.name=rsc-test", "-c", "user.email=rsc-test@localhost", "tag", "-a", version(),
         "-m", f"rsc {version()}"], clone)
    app = tmp / "consumer"
    (app / "Sources" / "consumer").mkdir(parents=True)
    # A consumer at an older tools version: what the dependency may carry depends on its manifest.
    (app / "Package.swift").write_text(f"""\
// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "consumer",
    dependencies: [.package(url: "{clone.as_uri()}", from: "0.1.0")],
    targets: [
        .executableTarget(name: "consumer", dependencies: [
            .product(name: "RSC", package: "rsc"), .product(name: "RSCData", package: "rsc"),
        ]),
    ]
)
""")
    (app / "Sources" / "consumer" / "main.swift").write_text(CONSUMER_MAIN)
    scratch = tmp / "build"
    run(["swift", "build", "-c", "release", "--scratch-path", str(scratch)], app, timeout=1800)
    resolved = (app / "Package.resolved").read_text()
    assert f'"version" : "{version()}"' in resolved, resolved  # resolved by version, not branch
    return scratch / "release" / "consumer"


@pytest.mark.parametrize("index,seed", [(0, 0), (7, 42)])
def test_versioned_dependency_certifies_like_python(consumer, index, seed):
    n = 2000
    out = run([str(consumer), str(MODEL), str(IMAGES), str(index), str(seed), str(n)], cwd=consumer.parent)
    m = re.fullmatch(r"label (-?\d+) radius (\S+) pA (\S+)\n", out)
    assert m, out
    x = np.load(IMAGES)[index]
    want = rsc.load(MODEL).certify(x, n0=100, n=n, alpha=0.001, seed=seed, stream=index)
    assert int(m[1]) == want.label
    assert float(m[2]) == want.radius and float(m[3]) == want.pa_lower
