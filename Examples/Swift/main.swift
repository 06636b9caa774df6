// rsc-swift-example: certify one image with the Swift API.
//   swift run -c release rsc-swift-example [MODEL.rscm] [IMAGES.npy-index]
// Uses the shipped demo model and the first shipped test image by default.
import Foundation
import RSC

let arguments = CommandLine.arguments
let modelPath = arguments.count > 1 ? arguments[1] : "models/demo/fmnist_demo.rscm"
let image = arguments.count > 2 ? Int(arguments[2]) ?? 0 : 0

// Image `index` of the shipped test images: a version-1 .npy file of float32, read past its header.
func testImage(_ index: Int, count d: Int) throws -> [Float] {
    let data = try Data(contentsOf: URL(fileURLWithPath: "models/demo/test_images.npy"))
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    let start = 10 + headerLength + index * d * 4
    return data[start..<(start + d * 4)].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

do {
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
}
