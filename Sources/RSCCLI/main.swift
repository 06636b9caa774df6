import Foundation
import RSC
import RSCData

// rsc-cli: inspect a model, and predict or certify a data set with it (Cohen et al.'s TSV output).

let usage = """
    usage: rsc-cli info MODEL
           rsc-cli predict MODEL DATA [options]
           rsc-cli certify MODEL DATA [options]
           rsc-cli profile MODEL DATA [--start I] [--count K] [--n N] [--seed S]
           rsc-cli --version

    DATA: .npy (floats in model input order, or uint8 images scaled by 1/255) or idx/idx.gz images
    (MNIST format), of shape (N, C, H, W) for a model of input (C, H, W), (N, C*H*W), or (N, H, W)
    when C is 1; any other shape is refused (a channels-last (N, H, W, C) array must be transposed
    to (N, C, H, W) first). Labels: --labels FILE (.npy or idx/idx.gz), one per image of DATA or exactly
    one per image selected by --start/--count; without labels, `correct` is -1.

    options:
      --labels FILE   class labels for DATA
      --n N           noise passes (predict, certify estimation; default 100000)
      --n0 N          certify selection passes (default 100)
      --alpha A       failure probability (default 0.001)
      --seed S        noise seed (default 0); image i uses stream i, so any split of a data set
                      into --start/--count runs gives the same per-image results
      --threads T     threads (default: all)
      --start I       first image (default 0)
      --count K       number of images (default: all from --start); only these are decoded
      --max-decompressed-bytes B
                      refuse a gzipped DATA or labels file that inflates past B bytes before the
                      images used end (default 2147483648)
      --radii LIST    certify: radii of the summary table (default 0,0.25,0.5,0.75,1.0)
      --sequential    certify: sequential certification (docs/sequential.md): decide whether
                      each --radii radius is certified, stopping as soon as that is decided,
                      with --n as the cap n_max on the estimation passes; the radius column is
                      the largest of them certified, a last column `passes` the passes used
      --skip-invalid  an image the library refuses (NaN or infinite values, |x| too large) becomes
                      a row with predict -2 (radius 0, correct 0 or -1 unlabeled, passes 0) and the
                      run goes on, exit status 0; without it the run stops there with status 1
      -V, --version   the version of rsc (library and tool) and the model formats it reads

    profile: one thread runs N noisy passes (default 2000) of each selected image (default the
    first) with every operation of the network timed; prints a Markdown table of each operation's
    time per step, share of the step and, for weighted layers, multiply-accumulates per second
    against this CPU's int8 peak (bench/RESULTS.md).

    Output: TSV on stdout (certify: idx label predict radius correct time; predict: idx label
    predict correct time; predict -1 = abstain, -2 = invalid input skipped), a summary on stderr.
    The TSV's radius has 4 decimals rounded down (never above the certified radius: 0.24997 is
    0.2499); the summary's certified accuracy uses the exact radius.
    """

/// `--version`: the tool, the library it is built with (the same package), the formats it reads.
let versionText = "rsc-cli (rsc \(RSCVersion.library)), model format versions "
    + RSCVersion.modelFormats.map(String.init).joined(separator: ", ")

/// The `predict` column of an image the library refused (--skip-invalid): an integer, so the TSV
/// still parses as Cohen et al.'s (and rsc.distributed.read_tsv's), and distinct from abstain (-1).
let invalidPrediction = -2

struct Options {
    var positional: [String] = []
    var labels: String?
    var n = 100_000, n0 = 100, alpha = 0.001, seed: UInt64 = 0, threads = 0, start = 0
    var count: Int?
    var maxDecompressedBytes = Dataset.defaultMaxDecompressedBytes
    var radii: [Double] = [0, 0.25, 0.5, 0.75, 1.0]
    var sequential = false
    var skipInvalid = false
    var nGiven = false

    init(_ args: ArraySlice<String>) throws {
        var it = args.makeIterator()
        func value(_ flag: String) throws -> String {
            guard let v = it.next() else { throw CLIError("\(flag) needs a value") }
            return v
        }
        func int(_ flag: String) throws -> Int {
            let v = try value(flag)
            guard let i = Int(v), i >= 0 else { throw CLIError("\(flag): '\(v)' is not a non-negative integer") }
            return i
        }
        while let a = it.next() {
            switch a {
            case "--labels": labels = try value(a)
            case "--n": n = try int(a); nGiven = true
            case "--n0": n0 = try int(a)
            case "--threads": threads = try int(a)
            case "--start": start = try int(a)
            case "--count": count = try int(a)
            case "--max-decompressed-bytes": maxDecompressedBytes = try int(a)
            case "--seed":
                let v = try value(a)
                guard let s = UInt64(v) else { throw CLIError("--seed: '\(v)' is not an unsigned integer") }
                seed = s
            case "--alpha":
                let v = try value(a)
                guard let x = Double(v) else { throw CLIError("--alpha: '\(v)' is not a number") }
                alpha = x
            case "--radii":
                let v = try value(a)
                radii = try v.split(separator: ",").map {
                    guard let r = Double($0) else { throw CLIError("--radii: '\($0)' is not a number") }
                    return r
                }
            case "--sequential": sequential = true
            case "--skip-invalid": skipInvalid = true
            case "-h", "--help": throw CLIError(usage, exitCode: 0)
            case "-V", "--version": throw CLIError(versionText, exitCode: 0)
            default:
                guard !a.hasPrefix("--") else { throw CLIError("unknown option \(a)") }
                positional.append(a)
            }
        }
    }
}

struct CLIError: Error {
    let message: String
    var exitCode: Int32 = 2
    init(_ message: String, exitCode: Int32 = 2) { self.message = message; self.exitCode = exitCode }
}

/// Cohen et al. print elapsed time as Python's str(timedelta): H:MM:SS.ffffff.
func timedelta(_ s: Double) -> String {
    let us = Int((s * 1e6).rounded())
    return String(format: "%d:%02d:%02d.%06d", us / 3_600_000_000, us / 60_000_000 % 60, us / 1_000_000 % 60, us % 1_000_000)
}

func printInfo(_ m: Model) {
    let i = m.info
    print("name         \(i.name.isEmpty ? "-" : terminalSafe(i.name))")
    print("input        \(i.inputShape) = \(i.inputShape.count) floats")
    print("classes      \(i.numClasses): \(i.classNames.map(terminalSafe).joined(separator: ", "))")
    print("time steps   \(i.timeSteps)")
    print("coding       \(i.coding.name)")
    print("sigma        \(i.sigma)")
    print("sigma_eff    \(i.sigmaEffective.map { String($0) } ?? "- (no certificate)")")
    print("layers       \(i.numLayers)\(i.formatVersion == 2 ? " (graph nodes, format 2)" : "")")
    switch i.arithmetic {
    case .float: print("arithmetic   float (float32 first layer)")
    case .integer(let shift, let limit): print("arithmetic   integer (input grid 2^-\(shift), clamped to +-\(limit))")
    }
    print("work/pass    \(i.workPerPass) operations")
    print("scratch      \(i.scratchBytes) bytes per thread")
    if i.noiseTailMass > 0 { print("noise tail   \(i.noiseTailMass) per pass (subtracted from pA)") }
}

func loadData(_ path: String, labels: String?, model: Model, start: Int, count: Int?, maxDecompressedBytes: Int) throws
    -> Dataset {
    let data = try Dataset.load(images: URL(fileURLWithPath: path), labels: labels.map { URL(fileURLWithPath: $0) },
                                start: start, count: count, maxDecompressedBytes: maxDecompressedBytes)
    let s = model.info.inputShape
    guard acceptedSampleShapes(s).contains(data.shape) else {
        let per = data.shape.reduce(1, *)
        let alternatives = acceptedSampleShapes(s).map(shapeText).joined(separator: " or ")
        throw CLIError("\(terminalSafe(path)): samples have shape \(shapeText(data.shape)) (\(per) values), the model takes \(alternatives) (C, H, W = \(s.channels), \(s.height), \(s.width)); another layout (e.g. channels-last (H, W, C)) must be transposed first")
    }
    if let labels = data.labels, let i = labels.firstIndex(where: { $0 >= model.info.numClasses }) {
        throw CLIError("label \(labels[i]) at index \(data.range.lowerBound + i) is not a class of the model (\(model.info.numClasses) classes)")
    }
    guard start <= data.count else { throw CLIError("--start \(start) is past the \(data.count) samples of \(path)") }
    return data
}

/// The sample shapes DATA may have for a model of input shape (C, H, W): (C, H, W) itself, (d,)
/// flat, and (H, W) when C == 1 (idx files store one-channel images as (N, H, W)). Any other shape
/// with d values (channels-last (H, W, C), say) would be taken silently in the wrong order.
func acceptedSampleShapes(_ s: Shape3) -> [[Int]] {
    var shapes = [[s.channels, s.height, s.width], [s.count]]
    if s.channels == 1 { shapes.append([s.height, s.width]) }
    return shapes
}

func shapeText(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}

/// A radius as the TSV prints it: 4 decimals, rounded DOWN, so that the printed number (as any
/// reader parses it) is never above the certified radius: 0.24997 prints 0.2499, not 0.2500, which
/// would count as certified at r = 0.25. A radius that is a 4-decimal number (0.25, a
/// --sequential radius) prints as itself.
func radiusText(_ r: Double) -> String {
    guard r.isFinite, r >= 0, r < 1e15 else { return String(format: "%.4f", r) }
    var k = Int((r * 10_000).rounded(.down))
    func text(_ k: Int) -> String { String(format: "%d.%04d", k / 10_000, k % 10_000) }
    // r * 10^4 is itself rounded: step to the largest k whose decimal text parses to <= r.
    while Double(text(k + 1))! <= r { k += 1 }
    while k > 0 && Double(text(k))! > r { k -= 1 }
    return text(k)
}

/// The model an argument names, opened with the argument's own bytes: CommandLine.arguments
/// decodes argv as UTF-8, replacing other bytes by U+FFFD, and that path names another file.
func loadModel(_ argument: String) throws -> Model {
    for i in 1..<Int(CommandLine.argc) {
        guard let raw = CommandLine.unsafeArgv[i], String(cString: raw) == argument else { continue }
        return try Model(cPath: raw)
    }
    return try Model(path: argument)
}

func run(_ args: [String]) throws {
    guard let command = args.first else { throw CLIError(usage) }
    if command == "-h" || command == "--help" { throw CLIError(usage, exitCode: 0) }
    if command == "-V" || command == "--version" { throw CLIError(versionText, exitCode: 0) }
    let o = try Options(args.dropFirst())
    switch command {
    case "info":
        guard o.positional.count == 1 else { throw CLIError("usage: rsc-cli info MODEL") }
        printInfo(try loadModel(o.positional[0]))
    case "predict", "certify":
        guard o.positional.count == 2 else { throw CLIError("usage: rsc-cli \(command) MODEL DATA [options]") }
        let model = try loadModel(o.positional[0])
        let predictParameters = PredictParameters(n: o.n, alpha: o.alpha, seed: o.seed, threads: o.threads)
        let certifyParameters = CertifyParameters(n0: o.n0, n: o.n, alpha: o.alpha, seed: o.seed, threads: o.threads)
        let sequentialParameters = SequentialCertifyParameters(n0: o.n0, nMax: o.n, alpha: o.alpha, radii: o.radii,
                                                               seed: o.seed, threads: o.threads)
        let sequential = o.sequential && command == "certify"
        if o.sequential && !sequential { throw CLIError("--sequential is an option of certify") }
        do {  // option errors before reading the data or writing any output
            if command == "certify" {
                _ = try model.certificateScale()
                try certifyParameters.validate()
                if sequential { try sequentialParameters.validate() }
            } else {
                try predictParameters.validate()
            }
        } catch let e as RSCError {
            throw CLIError("rsc-cli: \(e.message)")
        }
        let data = try loadData(o.positional[1], labels: o.labels, model: model, start: o.start, count: o.count,
                                maxDecompressedBytes: o.maxDecompressedBytes)
        var summary = Summary(radii: o.radii)
        print(command == "certify" ? "idx\tlabel\tpredict\tradius\tcorrect\ttime" + (sequential ? "\tpasses" : "")
              : "idx\tlabel\tpredict\tcorrect\ttime")
        for i in data.range {
            let x = Array(data.sample(i))
            let label = data.label(i) ?? -1
            let t0 = DispatchTime.now().uptimeNanoseconds
            var predicted = invalidPrediction, radius = 0.0, passes = 0
            do {
                if sequential {
                    var p = sequentialParameters
                    p.stream = UInt64(i)
                    let c = try model.certifySequential(x, parameters: p)
                    (predicted, radius, passes) = (c.label ?? -1, c.radius, c.passes)
                } else if command == "certify" {
                    var p = certifyParameters
                    p.stream = UInt64(i)
                    let c = try model.certify(x, parameters: p)
                    (predicted, radius) = (c.label ?? -1, c.radius)
                } else {
                    var p = predictParameters
                    p.stream = UInt64(i)
                    let r = try model.predict(x, parameters: p)
                    (predicted, radius) = (r.label ?? -1, 0)
                }
                summary.passes += sequential ? o.n0 + passes : (command == "certify" ? o.n0 + o.n : o.n)
            } catch let e as RSCError where e.isInvalidInput {
                // The library's message names the value (x[j] is nan); the TSV's idx names the image.
                guard o.skipInvalid else {
                    throw CLIError("rsc-cli: image \(i): \(terminalSafe(e.message)) (--skip-invalid writes it as a row with predict \(invalidPrediction) and goes on)", exitCode: 1)
                }
                summary.skipped += 1
            }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let correct = label < 0 ? -1 : (predicted == label ? 1 : 0)
            summary.add(predicted: predicted, label: label, radius: radius, seconds: dt)
            if command == "certify" {
                print("\(i)\t\(label)\t\(predicted)\t\(radiusText(radius))\t\(correct)\t\(timedelta(dt))"
                      + (sequential ? "\t\(passes)" : ""))
            } else {
                print("\(i)\t\(label)\t\(predicted)\t\(correct)\t\(timedelta(dt))")
            }
            fflush(nil)  // every stream: Swift 6 mode refuses a reference to the global `stdout`
        }
        FileHandle.standardError.write(Data(summary.report(certify: command == "certify").utf8))
    case "profile":
        guard o.positional.count == 2 else { throw CLIError("usage: rsc-cli profile MODEL DATA [--start I] [--count K] [--n N]") }
        let model = try loadModel(o.positional[0])
        let data = try loadData(o.positional[1], labels: nil, model: model, start: o.start, count: o.count ?? 1,
                                maxDecompressedBytes: o.maxDecompressedBytes)
        let passes = o.nGiven ? o.n : 2000
        guard !data.range.isEmpty else { throw CLIError("rsc-cli: profile needs at least one image (--count >= 1)") }
        do {
            let profiles = try data.range.map { try model.profile(Array(data.sample($0)), passes: passes, seed: o.seed, stream: UInt64($0)) }
            print(profileTable(profiles, model: model))
        } catch let e as RSCError {
            throw CLIError("rsc-cli: \(e.message)")
        }
    default:
        throw CLIError("unknown command '\(command)'\n\(usage)")
    }
}


/// Cohen-style summary: accuracy of the smoothed classifier and certified accuracy per radius.
struct Summary {
    let radii: [Double]
    var n = 0, abstained = 0, correct = 0, labeled = 0, seconds = 0.0
    /// Images the library refused (--skip-invalid): in `n` and `labeled`, never correct, as
    /// their rows count in Cohen-style tables.
    var skipped = 0
    /// Noise passes run, selection included.
    var passes = 0
    var certified: [Int]

    init(radii: [Double]) { self.radii = radii; certified = Array(repeating: 0, count: radii.count) }

    mutating func add(predicted: Int, label: Int, radius: Double, seconds dt: Double) {
        n += 1
        seconds += dt
        if predicted == -1 { abstained += 1 }
        guard label >= 0 else { return }
        labeled += 1
        guard predicted == label else { return }
        correct += 1
        for (k, r) in radii.enumerated() where radius >= r { certified[k] += 1 }
    }

    func report(certify: Bool) -> String {
        func pct(_ a: Int, _ b: Int) -> String { b == 0 ? "-" : String(format: "%.1f%%", 100 * Double(a) / Double(b)) }
        var s = "\n\(n) images, \(String(format: "%.3f", n == 0 ? 0 : seconds / Double(n))) s per image, \(passes) passes, abstained \(pct(abstained, n))"
        if labeled > 0 { s += ", accuracy \(pct(correct, labeled))" }
        if skipped > 0 { s += ", \(skipped) skipped (invalid input, predict \(invalidPrediction))" }
        s += "\n"
        if certify && labeled > 0 {
            s += "radius     " + radii.map { String(format: "%6.2f", $0) }.joined(separator: " ") + "\n"
            s += "certified  " + certified.map { String(format: "%5.1f%%", 100 * Double($0) / Double(labeled)) }.joined(separator: " ") + "\n"
        }
        return s
    }
}

extension RSCError {
    /// The input itself was refused (its values or size), not the model or the machine: the
    /// errors --skip-invalid skips.
    var isInvalidInput: Bool {
        switch self {
        case .inputValue, .inputSize: return true
        default: return false
        }
    }
}

do {
    try run(Array(CommandLine.arguments.dropFirst()))
} catch let e as CLIError {
    // Help that was asked for goes to stdout; usage errors to stderr.
    (e.exitCode == 0 ? FileHandle.standardOutput : FileHandle.standardError).write(Data((e.message + "\n").utf8))
    exit(e.exitCode)
} catch let e as RSCError {
    // Messages can quote file names and strings from the files.
    FileHandle.standardError.write(Data(("rsc-cli: \(terminalSafe(e.message))\n").utf8))
    exit(1)
} catch {
    FileHandle.standardError.write(Data(("rsc-cli: \(terminalSafe(String(describing: error)))\n").utf8))
    exit(1)
}
