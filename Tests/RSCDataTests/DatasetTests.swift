import XCTest
@testable import RSCData

final class DatasetTests: XCTestCase {
    func testIDXImagesAndLabels() throws {
        for (images, labels) in [("idx/images.idx", "idx/labels.idx"), ("idx/images.idx.gz", "idx/labels.idx.gz"),
                                 ("idx/images.idx", "idx/labels.idx.gz")] {
            let ds = try Dataset.load(images: fixture(images), labels: fixture(labels))
            XCTAssertEqual(ds.count, 5)
            XCTAssertEqual(ds.shape, [4, 3])
            XCTAssertEqual(ds.values.count, 60)
            XCTAssertEqual(Array(ds.values[..<3]), [0, 1, 128 / 255], "uint8 scaled by 1/255")
            XCTAssertTrue(ds.values.allSatisfy { (0...1).contains($0) })
            XCTAssertEqual(ds.labels, [9, 0, 3, 3, 7])
        }
    }

    func testNPYImagesAndLabels() throws {
        let raw = try readArray(fixture("dataset/images_f4.npy"), maxDecompressedBytes: 1 << 20)
        let ds = try Dataset.load(images: fixture("dataset/images_f4.npy"), labels: fixture("dataset/labels_i8.npy"))
        XCTAssertEqual(ds.count, 6)
        XCTAssertEqual(ds.shape, [2, 2])
        XCTAssertEqual(ds.values, raw.floats(scaleUInt8: false), "floats taken as is")
        XCTAssertEqual(ds.labels, [0, 1, 2, 3, 4, 5])

        let col = try Dataset.load(images: fixture("dataset/images_f4.npy"), labels: fixture("dataset/labels_i4_col.npy"))
        XCTAssertEqual(col.labels, [5, 4, 3, 2, 1, 0])

        let u1 = try Dataset.load(images: fixture("dataset/images_u1.npy.gz"), labels: nil)
        XCTAssertEqual(u1.count, 6)
        XCTAssertEqual(u1.shape, [3])
        XCTAssertNil(u1.labels)
        let bytes = try readArray(fixture("dataset/images_u1.npy.gz"), maxDecompressedBytes: 1 << 20).ints(file: "")
        XCTAssertEqual(u1.values, bytes.map { Float($0) / 255 })
    }

    func testErrorsNameTheFile() {
        let images = fixture("dataset/images_f4.npy")
        func load(_ labels: String) throws -> Dataset { try Dataset.load(images: images, labels: fixture(labels)) }
        assertDataError("countMismatch", images.path, "holds 6 samples", fixture("dataset/labels_5.npy").path, "holds 5 labels") {
            try load("dataset/labels_5.npy")
        }
        assertDataError("unsupported", "labels_f4.npy", "labels must be integers, got element type <f4") { try load("dataset/labels_f4.npy") }
        assertDataError("corrupt", "labels_negative.npy", "negative label -1 at index 2") { try load("dataset/labels_negative.npy") }
        assertDataError("unsupported", "labels_2d.npy", "labels need shape (N) or (N, 1), got (6, 2)") { try load("dataset/labels_2d.npy") }
        assertDataError("unsupported", "vector.idx", "images need shape (N, ...) with at least 2 axes, got (4,)") {
            try Dataset.load(images: fixture("idx/vector.idx"), labels: nil)
        }
        assertDataError("unreadable", "nope.npy", "no such file") { try Dataset.load(images: fixture("nope.npy"), labels: nil) }
        assertDataError("unreadable", "nope.idx") { try load("nope.idx") }
        assertDataError("tooLarge", "zeros_u1_4m.npy.gz", "1048576") {
            try Dataset.load(images: fixture("dataset/zeros_u1_4m.npy.gz"), labels: nil, maxDecompressedBytes: 1 << 20)
        }
        assertDataError("badMagic", "zeros4m.gz", "not .npy, idx or gzip (starts with 00 00 00 00") {
            try Dataset.load(images: fixture("gzip/zeros4m.gz"), labels: nil)
        }
        assertDataError("corrupt", "bad_crc.idx.gz", "gzip: CRC-32 mismatch") { try Dataset.load(images: fixture("idx/bad_crc.idx.gz"), labels: nil) }
        assertDataError("truncated", "empty.gz", "gzip holds no data") { try Dataset.load(images: fixture("gzip/empty.gz"), labels: nil) }
    }

    /// Issue 15, item 8: only the samples asked for are decoded. A gzipped (4096, 1024) uint8 array
    /// (4 MiB inflated) is beyond a 1 MiB cap as a whole, but its first two samples are not:
    /// inflation stops where they end, and an uncompressed file is read only there.
    func testOnlyTheSamplesAskedForAreDecoded() throws {
        let gz = fixture("dataset/zeros_u1_4m.npy.gz")
        let two = try Dataset.load(images: gz, labels: nil, start: 0, count: 2, maxDecompressedBytes: 1 << 20)
        XCTAssertEqual(two.count, 4096)
        XCTAssertEqual(two.range, 0..<2)
        XCTAssertEqual(two.values.count, 2 * 1024)
        let late = try Dataset.load(images: gz, labels: nil, start: 900, count: 3, maxDecompressedBytes: 1 << 20)
        XCTAssertEqual(late.range, 900..<903)
        XCTAssertEqual(late.sample(901).count, 1024)
        assertDataError("tooLarge", "1048576") {
            try Dataset.load(images: gz, labels: nil, start: 1100, count: 1, maxDecompressedBytes: 1 << 20)
        }
        for (images, labels) in [("idx/images.idx", "idx/labels.idx"), ("idx/images.idx.gz", "idx/labels.idx.gz"),
                                 ("dataset/images_f4.npy", "dataset/labels_i8.npy")] {
            let all = try Dataset.load(images: fixture(images), labels: fixture(labels))
            for (start, count) in [(0, 1), (1, 2), (3, nil), (4, 100), (all.count, 1)] as [(Int, Int?)] {
                let part = try Dataset.load(images: fixture(images), labels: fixture(labels), start: start, count: count)
                XCTAssertEqual(part.count, all.count)
                XCTAssertEqual(part.range, start..<min(all.count, start + (count ?? all.count)))
                for i in part.range {
                    XCTAssertEqual(part.sample(i), all.sample(i))
                    XCTAssertEqual(part.label(i), all.label(i))
                }
            }
        }
    }

    /// Issue 16: labels for just the selected samples are accepted (the first for sample
    /// `start`); any other length is refused with both accepted lengths named.
    func testLabelsOfTheSelectedRangeOnly() throws {
        let images = fixture("dataset/images_f4.npy"), five = fixture("dataset/labels_5.npy")  // 6 samples; 0...4
        let tail = try Dataset.load(images: images, labels: five, start: 1, count: 5)
        XCTAssertEqual(tail.range, 1..<6)
        XCTAssertEqual(tail.labels, [0, 1, 2, 3, 4])
        XCTAssertEqual(tail.label(1), 0)
        let head = try Dataset.load(images: images, labels: five, start: 0, count: 5)
        XCTAssertEqual(head.labels, [0, 1, 2, 3, 4])
        let middle = try Dataset.load(images: images, labels: fixture("dataset/labels_i8.npy"), start: 1, count: 3)
        XCTAssertEqual(middle.labels, [1, 2, 3], "the whole file's labels are read at the range")
        assertDataError("countMismatch", "holds 6 samples", "holds 5 labels", "all 6 samples or exactly the 2 selected (samples 2 to 3)") {
            try Dataset.load(images: images, labels: five, start: 2, count: 2)
        }
    }

    /// Issue 15, item 9: numpy reads the last of repeated header keys (here: four uint8 images),
    /// a first-key reader one float32 image; such a header is refused.
    func testDuplicateNPYKeysAreRefused() throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'descr': '|u1', 'shape': (4, 1), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8) + [1, 2, 3, 4]
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rsc-dup-\(getpid()).npy")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        assertDataError("corrupt", url.lastPathComponent, "the key 'descr' appears twice") {
            try Dataset.load(images: url, labels: nil)
        }
    }

    /// The real Fashion-MNIST test set, where the machine has it (RSC_FASHION_MNIST_DIR overrides
    /// the directory), cross-checked against Python's gzip module.
    func testFashionMNISTTestSet() throws {
        let dir = ProcessInfo.processInfo.environment["RSC_FASHION_MNIST_DIR"] ?? "/usr/share/datasets/fashion-mnist"
        let images = URL(fileURLWithPath: dir).appendingPathComponent("t10k-images-idx3-ubyte.gz")
        let labels = URL(fileURLWithPath: dir).appendingPathComponent("t10k-labels-idx1-ubyte.gz")
        guard FileManager.default.fileExists(atPath: images.path), FileManager.default.fileExists(atPath: labels.path) else {
            throw XCTSkip("Fashion-MNIST test set not found in \(dir) (set RSC_FASHION_MNIST_DIR to its directory)")
        }
        let start = Date()
        let ds = try Dataset.load(images: images, labels: labels)
        print("Fashion-MNIST t10k images + labels loaded in \(String(format: "%.3f", Date().timeIntervalSince(start))) s")
        XCTAssertEqual(ds.count, 10_000)
        XCTAssertEqual(ds.shape, [28, 28])
        XCTAssertEqual(ds.values.count, 10_000 * 28 * 28)
        XCTAssertEqual(ds.labels?.count, 10_000)
        XCTAssertTrue(ds.labels?.allSatisfy { (0..<10).contains($0) } ?? false)
        XCTAssertTrue(ds.values.allSatisfy { (0...1).contains($0) })

        // Python's view: the first label, and the sum of all pixel bytes.
        let script = "import gzip, sys; l = gzip.open(sys.argv[1]).read(); i = gzip.open(sys.argv[2]).read(); print(l[8], sum(i[16:]))"
        guard let out = try runPython(script, [labels.path, images.path]) else {
            throw XCTSkip("python3 not found: checked shapes only, not values against Python's gzip")
        }
        let fields = out.split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(fields.count, 2, out)
        XCTAssertEqual(ds.labels?.first, fields.first)
        XCTAssertEqual(ds.values.reduce(0) { $0 + Int(($1 * 255).rounded()) }, fields.last)
    }

    /// Runs python3 (found through /usr/bin/env) and returns its trimmed stdout; nil when absent.
    private func runPython(_ code: String, _ args: [String]) throws -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", code] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus == 127 { return nil }
        XCTAssertEqual(p.terminationStatus, 0, "python3 failed")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
