import Foundation
import RSC

/// `rsc-cli profile`'s Markdown: the operations of one step summed over the images profiled.
func profileTable(_ profiles: [Profile], model: Model) -> String {
    let first = profiles[0]
    let steps = Double(profiles.reduce(0) { $0 + $1.steps })
    let total = profiles.reduce(0) { $0 + $1.totalSeconds }
    func f(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
    var lines = [
        "\(profiles.count) image(s) x \(first.passes) passes x T = \(model.info.timeSteps), one thread: "
            + "\(f(total / steps * 1e6, 2)) us per step, \(f(steps / Double(model.info.timeSteps) / total, 0)) passes/s. "
            + "int8 peak of one thread: \(f(first.int8Peak * 1e-9, 1)) GMAC/s (\(first.int8PeakKind)).",
        "",
        "| # | operation | us / step | share of the step | dense steps | work / step | rate | % of int8 peak |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    let coding = profiles.reduce(0) { $0 + $1.codingSeconds }
    lines.append("| - | noise and input coding | \(f(coding / steps * 1e6, 2)) | \(f(100 * coding / total, 1))% | | | | |")
    for (i, op) in first.operations.enumerated() {
        let seconds = profiles.reduce(0) { $0 + $1.operations[i].seconds }
        let dense = profiles.reduce(0) { $0 + $1.operations[i].denseSteps }
        let perStep = seconds / steps
        var rate = "", peak = "", denseText = ""
        if op.weighted {
            rate = "\(f(Double(op.work) / perStep * 1e-9, 1)) GMAC/s"
            if first.int8Peak > 0 { peak = "\(f(100 * Double(op.work) / perStep / first.int8Peak, 1))%" }
            denseText = "\(f(100 * Double(dense) / steps, 0))%"
        } else {
            rate = "\(f(Double(op.work) / perStep * 1e-9, 2)) G/s"
        }
        lines.append("| \(i) | \(op.name) | \(f(perStep * 1e6, 2)) | \(f(100 * seconds / total, 1))% | \(denseText) | \(op.work) | \(rate) | \(peak) |")
    }
    return lines.joined(separator: "\n")
}
