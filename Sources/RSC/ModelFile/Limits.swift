/// Sizes rsc refuses, checked before anything is allocated (docs/format.md, "Limits").
public enum Limits {
    public static let maxFileBytes = 1 << 31
    public static let maxLayers = 256
    /// Version 2: nodes of a graph (a ResNet-152 is about 500); each reads at most 2 nodes.
    public static let maxNodes = 1024
    public static let maxTimeSteps = 4096
    public static let maxClasses = 65536
    public static let maxDimension = 65535
    public static let maxKernelOrStride = 64
    /// Largest model input (d = C*H*W) and largest layer output, in elements.
    public static let maxElements = 1 << 24
    /// Sum of all layer outputs: bounds the per-thread scratch memory (~10 bytes per element).
    public static let maxTotalElements = 1 << 26
    public static let maxWeightBytes = 1 << 28
    /// Kernel scratch memory of one thread (maps, membranes, accumulators, padded copies).
    public static let maxScratchBytes = 1 << 28
    /// Work of one pass: multiply-accumulates, window and elementwise operations over T steps.
    public static let maxWorkPerPass = 1 << 33
    /// The most LoadOptions.maxWorkPerPass may allow: about 20 minutes per pass on one core.
    public static let maxWorkPerPassCeiling = 1 << 40
    /// Work of one operation at one step: bounds the latency of a cancellation (the kernel polls
    /// the progress callback between operations; docs/reliability.md).
    public static let maxWorkPerOperation = 1 << 28
    /// The network plan (repacked weights and tables): at most this multiple of the file size
    /// plus planSlackBytes.
    public static let planBytesPerFileByte = 16
    public static let planSlackBytes = 1 << 26
    public static let maxStringBytes = 4096
    /// Largest pass count of one call: the pass index is a 32-bit Philox counter word.
    public static let maxPasses = Int(UInt32.max)
    /// Largest accepted |x| of an input element; larger values are rejected as bad input.
    public static let maxInputMagnitude: Float = 1e6
    /// Largest noise scale accepted in a file.
    public static let maxSigma: Float = 1e4
}
