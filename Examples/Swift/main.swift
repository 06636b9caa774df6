// rsc-swift-example: certify one image with the Swift API (`import RSC`) and the data readers
// (`import RSCData`).
//   swift run -c release rsc-swift-example [MODEL.rscm [IMAGES [INDEX]]]
// IMAGES: .npy or idx, or either gzipped, N images (uint8 pixels are divided by 255). Without
// arguments: the shipped demo model and test images (models/demo/), found in the package this
// example was built from, from any working directory; INDEX defaults to 0.
import Foundation
import RSC
import RSCData

struct ExampleError: Error, CustomStringConvertible {
    let description: String
}

let usage = "usage: rsc-swift-example [MODEL.rscm [IMAGES [INDEX]]]"

/// A file shipped with the package: searched in the directories above the executable
/// (<package>/.build/<triple>/release/rsc-swift-example), then in the package this file was
/// compiled from (<package>/Examples/Swift/main.swift), not in the working directory: relative
/// paths are for arguments.
func shipped(_ relative: String) throws -> URL {
    var roots: [URL] = []
    if var dir = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() {
        while dir.pathComponents.count > 1 {
            roots.append(dir)
            dir.deleteLastPathComponent()
        }
    }
    roots.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent())
    for root in roots where FileManager.default.fileExists(atPath: root.appendingPathComponent(relative).path) {
        return root.appendingPathComponent(relative)
    }
    throw ExampleError(description: "cannot find the shipped \(relative) above the executable or in "
        + "\(roots.last!.path); pass MODEL.rscm and IMAGES as arguments\n\(usage)")
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.count > 3 || arguments.contains(where: { $0 == "-h" || $0 == "--help" }) {
    print(usage)
    exit(arguments.count > 3 ? 2 : 0)
}

do {
    let modelURL = try arguments.count > 0 ? URL(fileURLWithPath: arguments[0]) : shipped("models/demo/fmnist_demo.rscm")
    let imagesURL = try arguments.count > 1 ? URL(fileURLWithPath: arguments[1]) : shipped("models/demo/test_images.npy")
    let indexArgument = arguments.count > 2 ? arguments[2] : "0"
    guard let index = Int(indexArgument), index >= 0 else {
        throw ExampleError(description: "INDEX '\(indexArgument)' is not a non-negative integer")
    }
    // snippet: swift
    let model = try Model(contentsOf: modelURL)
    let images = try Dataset.load(images: imagesURL, start: index, count: 1)  // RSCData: .npy, idx, gzip
    guard images.range.contains(index) else {
        throw ExampleError(description: "\(imagesURL.path) has \(images.count) images, no image \(index)")
    }
    let cert = try model.certify(Array(images.sample(index)),
                                 parameters: CertifyParameters(n0: 100, n: 100_000, alpha: 0.001, seed: 3))
    if let label = cert.label {
        print("class \(label) (\(model.info.classNames[label])) radius \(cert.radius) pA \(cert.pALower)")
    } else {
        print("abstain pA \(cert.pALower)")
    }
    // end snippet
} catch let error as RSCError {
    FileHandle.standardError.write(Data("rsc error \(error.status): \(error.message)\n".utf8))
    exit(1)
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
