// rsc-swift-example: certify one image with the Swift API.
//   swift run -c release rsc-swift-example [MODEL.rscm] [INDEX]
// Certifies image INDEX of the shipped test images (models/demo/test_images.npy, default 0) with
// the shipped demo model or MODEL.
import Foundation
import RSC

let arguments = CommandLine.arguments
let modelPath = arguments.count > 1 ? arguments[1] : "models/demo/fmnist_demo.rscm"
let imageArgument = arguments.count > 2 ? arguments[2] : "0"

struct ExampleError: Error, CustomStringConvertible {
    let description: String
}

// Image `index` of the shipped test images: a version-1 .npy file of float32, read past its header.
func testImage(_ index: Int, count d: Int) throws -> [Float] {
    let data = try Data(contentsOf: URL(fileURLWithPath: "models/demo/test_images.npy"))
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    let images = (data.count - 10 - headerLength) / (d * 4)
    guard (0..<images).contains(index) else {
        throw ExampleError(description: "image \(index) is not among the \(images) test images")
    }
    let start = 10 + headerLength + index * d * 4
    return data[start..<(start + d * 4)].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

do {
    guard let image = Int(imageArgument) else { throw ExampleError(description: "INDEX '\(imageArgument)' is not an integer") }
    // snippet: swift
    let model = try Model(contentsOf: URL(fileURLWithPath: modelPath))
    let x = try testImage(image, count: model.info.inputShape.count)
    let cert = try model.certify(x, parameters: CertifyParameters(n0: 100, n: 100_000, alpha: 0.001, seed: 3))
    if let label = cert.label {
        print("class \(label) (\(model.info.classNames[label])) radius \(cert.radius) pA \(cert.pALower)")
    } else {
        print("abstain pA \(cert.pALower)")
    }
    // end snippet
} catch let error as RSCError {
    print("rsc error \(error.status): \(error.message)")
    exit(1)
} catch {
    print("error: \(error)")
    exit(1)
}
