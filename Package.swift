// swift-tools-version:5.9
// rsc: certifiably robust spiking neural networks (randomized smoothing coding).
// Layout and rationale: docs/ and ../shared/DESIGN.md.
import PackageDescription

// Debian's libomp-dev (LLVM 14) puts omp.h where the toolchain's clang does not look.
// -idirafter (not -I) keeps clang's own intrinsics headers first (docs/kernel.md: build flags).
let ompInclude = "/usr/lib/llvm-14/lib/clang/14.0.6/include"

let package = Package(
    name: "rsc",
    products: [
        // librsc.so: the C ABI declared in include/rsc.h.
        .library(name: "rsc", type: .dynamic, targets: ["RSCCAPI"]),
        // `import RSC` for Swift users.
        .library(name: "RSC", targets: ["RSC"]),
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
                    "-fopenmp", "-O3", "-idirafter", ompInclude,
                    // Bit-identical float results whichever target_clones variant runs.
                    "-ffp-contract=off", "-fno-math-errno",
                ]),
            ],
            linkerSettings: [.linkedLibrary("omp5")]
        ),
        // Model format, validation, network plan, smoothing, statistics, RNG keys, Swift API.
        .target(name: "RSC", dependencies: ["CRSCKernel"]),
        // @_cdecl exports matching include/rsc.h one to one.
        .target(name: "RSCCAPI", dependencies: ["RSC", "CRSCKernel"]),
        // Data-set readers for the CLI: .npy, idx and idx.gz.
        .target(name: "RSCData"),
        .executableTarget(name: "RSCCLI", dependencies: ["RSC", "RSCData"]),
        .executableTarget(name: "RSCExample", dependencies: ["RSC"], path: "Examples/Swift"),
        .testTarget(name: "RSCTests", dependencies: ["RSC", "CRSCKernel"], exclude: ["Fixtures"]),
        .testTarget(name: "RSCDataTests", dependencies: ["RSCData"], exclude: ["Fixtures"]),
    ]
)
