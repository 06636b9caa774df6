/// Text from a model or data file, made safe to print on a terminal: control characters (C0,
/// DEL, C1) and the invisible bidirectional and zero-width format characters become visible
/// escapes, so a file cannot clear the screen, retitle the terminal, move the cursor or fake
/// lines of output (issue 15, item 10). Printable text, non-ASCII included, stays as it is; a
/// backslash is doubled so that an escape in the output always means an escaped character.
func terminalSafe(_ s: String) -> String {
    var out = ""
    out.unicodeScalars.reserveCapacity(s.unicodeScalars.count)
    for u in s.unicodeScalars {
        switch u.value {
        case 0x5c: out += "\\\\"
        case 0x09: out += "\\t"
        case 0x0a: out += "\\n"
        case 0x0d: out += "\\r"
        case 0x1b: out += "\\e"
        case 0x00..<0x20, 0x7f..<0xa0:
            out += "\\x" + hex(u.value, digits: 2)
        case 0x200b...0x200f, 0x202a...0x202e, 0x2060...0x2069, 0xfeff:
            out += "\\u{" + hex(u.value, digits: 4) + "}"
        default:
            out.unicodeScalars.append(u)
        }
    }
    return out
}

private func hex(_ v: UInt32, digits: Int) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: max(0, digits - h.count)) + h
}
