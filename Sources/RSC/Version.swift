import CRSCKernel

/// What this build of rsc is: the library version (include/rsc.h's RSC_VERSION_*, the string
/// rsc_version returns) and the .rscm format versions its loader reads, for tools to report.
public enum RSCVersion {
    public static let library = "\(RSC_VERSION_MAJOR).\(RSC_VERSION_MINOR).\(RSC_VERSION_PATCH)"
    public static let modelFormats: ClosedRange<Int> =
        Int(ModelFileParser.versions.lowerBound)...Int(ModelFileParser.versions.upperBound)
}
