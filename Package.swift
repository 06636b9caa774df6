// swift-tools-version:6.2
// rsc: certifiably robust spiking neural networks (randomized smoothing coding).
// Layout and rationale: docs/ and ../shared/DESIGN.md.
//
// Tools version 6.2: from SwiftPM 6.2 on, a package at this tools version may carry unsafeFlags
// (the kernel's -fopenmp) and still be depended on by version (`from: "0.2.0"`); older tools
// versions are refused there ("contains unsafe build flags"). So rsc needs a Swift >= 6.2 toolchain.
import Foundation
import PackageDescription

// The OpenMP runtime's name for the linker (-l). No omp.h is needed: the kernel declares the few
// OpenMP calls it makes (Sources/CRSCKernel/kernel_omp.h). Upstream LLVM installs libomp.so
// (Fedora's libomp-devel, Arch's openmp, Alpine's openmp-dev, LLVM built from source); Debian and
// Ubuntu's libomp-dev install libomp5.so (and libomp.so.5) in the linker's directories, and
// libomp.so only under /usr/lib/llvm-N/lib. RSC_OPENMP_LIB=<name> in the environment overrides
// (e.g. iomp5 for Intel's runtime). docs/kernel.md: build flags.
func openMPLibrary() -> String {
    if let name = Context.environment["RSC_OPENMP_LIB"], !name.isEmpty { return name }
    let fm = FileManager.default
    var dirs = ["/usr/local/lib", "/usr/local/lib64", "/usr/lib64", "/usr/lib", "/lib64", "/lib"]
    // Debian-style multiarch directories (/usr/lib/x86_64-linux-gnu, ...).
    for base in ["/usr/lib", "/lib"] {
        let entries = (try? fm.contentsOfDirectory(atPath: base)) ?? []
        dirs += entries.filter { $0.hasSuffix("-linux-gnu") || $0.hasSuffix("-linux-musl") }.sorted().map { base + "/" + $0 }
    }
    for name in ["omp", "omp5"] where dirs.contains(where: { fm.fileExists(atPath: "\($0)/lib\(name).so") }) {
        return name
    }
    return "omp"  // not found: the link error then names upstream's library (README: Requirements)
}

let package = Package(
    name: "rsc",
    products: [
        // librsc.so: the C ABI declared in include/rsc.h.
        .library(name: "rsc", type: .dynamic, targets: ["RSCCAPI"]),
        // `import RSC` for Swift users.
        .library(name: "RSC", targets: ["RSC"]),
        // `import RSCData`: the .npy / idx / gzip readers of rsc-cli and the Python binding.
        .library(name: "RSCData", targets: ["RSCData"]),
        // The command-line tool. A product cannot share the name `rsc` with the library.
        .executable(name: "rsc-cli", targets: ["RSCCLI"]),
        // The Swift API in use (README's Swift section).
        .executable(name: "rsc-swift-example", targets: ["RSCExample"]),
    ],
    targets: [
        // Hot loops only: noise coding, int8 layers, spike accumulation, neurons, votes.
        .target(
            name: "CRSCKernel",
            cSettings: [
                .unsafeFlags([
                    "-fopenmp", "-O3",
                    // Bit-identical float results whichever RSCK_MULTI variant runs.
                    "-ffp-contract=off", "-fno-math-errno",
                ]),
            ],
            linkerSettings: [.linkedLibrary(openMPLibrary())]
        ),
        // Model format, validation, network plan, smoothing, statistics, RNG keys, Swift API.
        .target(name: "RSC", dependencies: ["CRSCKernel"]),
        // @_cdecl exports matching include/rsc.h one to one.
        .target(name: "RSCCAPI", dependencies: ["RSC", "CRSCKernel"]),
        // Data-set readers: .npy, idx and idx.gz.
        .target(name: "RSCData"),
        .executableTarget(name: "RSCCLI", dependencies: ["RSC", "RSCData"]),
        .executableTarget(name: "RSCExample", dependencies: ["RSC", "RSCData"], path: "Examples/Swift"),
        .testTarget(name: "RSCTests", dependencies: ["RSC", "CRSCKernel"], exclude: ["Fixtures"]),
        .testTarget(name: "RSCDataTests", dependencies: ["RSCData"], exclude: ["Fixtures"]),
    ]
)
