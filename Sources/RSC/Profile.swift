import CRSCKernel

/// Where one thread's time goes in a step of the model (`rsc-cli profile`): each operation of the
/// network plan timed over real noisy passes, the noise coding, and the int8 peak of this CPU's
/// dense product to compare the dense layers with. For bench/RESULTS.md; not part of the public
/// API (package access).
package struct Profile: Sendable {
    package struct Operation: Sendable {
        /// Which node(s) it runs: "node 3 (conv2d) 16->32 3x3 on counts <= 4 + lif".
        package let name: String
        /// Seconds over all steps of all passes.
        package let seconds: Double
        /// Steps that ran a dense product (spike-fed layers), of `steps`.
        package let denseSteps: Int
        /// Multiply-accumulates (weighted layers, as if dense), window reads or updates per step.
        package let work: Int
        package let weighted: Bool
    }

    package let operations: [Operation]
    /// Drawing the noise and coding the input (quantizing it, for an integer model).
    package let codingSeconds: Double
    package let passes: Int
    /// Steps profiled: passes x T.
    package let steps: Int
    /// int8 products per second of one thread in the dense product this CPU runs (0: none).
    package let int8Peak: Double
    package let int8PeakKind: String

    package var totalSeconds: Double { operations.reduce(codingSeconds) { $0 + $1.seconds } }
}

extension Model {
    /// Runs `passes` noisy passes of x (PREDICT's phase, noise stream `stream`) on one thread
    /// with every operation timed.
    package func profile(_ x: [Float], passes: Int, seed: UInt64 = 0, stream: UInt64 = 0) throws -> Profile {
        guard x.count == info.inputShape.count else {
            throw RSCError.inputSize("x has \(x.count) values, the model takes \(info.inputShape.count)")
        }
        guard passes >= 1, passes <= Int(UInt32.max) else { throw RSCError.invalidArgument("passes must be 1..2^32-1") }
        try x.withUnsafeBufferPointer { try InputCheck.values($0, name: "x") }
        let scratch = try Scratch(bytes: plan.scratchBytes, threads: 1)
        let n = Int(plan.net.n_layers)
        var seconds = [Double](repeating: 0, count: n), dense = [UInt64](repeating: 0, count: n)
        var coding = 0.0
        let key = rsck_derive_key(seed, stream)
        withUnsafePointer(to: plan.net) { net in
            rsck_profile(net, x, key, UInt32(passes), scratch.blocks[0], &seconds, &dense, &coding)
        }
        var what: UnsafePointer<CChar>?
        let peak = rsck_int8_peak(0.2, &what)
        let ops = (0..<n).map { i -> Profile.Operation in
            let L = plan.net.layers[i]
            return Profile.Operation(name: plan.operationNames[i], seconds: seconds[i], denseSteps: Int(dense[i]),
                                     work: withUnsafePointer(to: L) { Int(rsck_op_work($0)) },
                                     weighted: L.kind == Int32(RSCK_CONV) || L.kind == Int32(RSCK_LINEAR))
        }
        return Profile(operations: ops, codingSeconds: coding, passes: passes, steps: passes * info.timeSteps,
                       int8Peak: peak, int8PeakKind: what.map { String(cString: $0) } ?? "")
    }
}
