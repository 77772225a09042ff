internal import MemoryProfilerSystem

extension LineProfileReport {
    /// The report as JSON, in the shape its `Codable` conformance reads: memory in bytes, `null` where a line
    /// has no number. The library writes it without Foundation; any JSON decoder reads it back.
    public func json() -> String {
        var output = "{\n  \"functions\" : ["
        for (index, function) in functions.enumerated() {
            output += index == 0 ? "\n" : ",\n"
            output += "    {\n"
            output += "      \"name\" : \(JSONText.string(function.name)),\n"
            output += "      \"file\" : \(JSONText.string(function.file)),\n"
            output += "      \"calls\" : \(function.calls),\n"
            output += "      \"precision\" : \(function.precision.map(String.init) ?? "null"),\n"
            output += "      \"lines\" : ["
            for (lineIndex, line) in function.lines.enumerated() {
                output += lineIndex == 0 ? "\n" : ",\n"
                output += "        { \"number\" : \(line.number), \"occurrences\" : \(line.occurrences), "
                output += "\"memoryUsage\" : \(jsonBytes(line.memoryUsage)), "
                output += "\"increment\" : \(jsonBytes(line.increment)), "
                output += "\"peak\" : \(jsonBytes(line.peak)), "
                output += "\"heapIncrement\" : \(jsonBytes(line.heapIncrement)), "
                if let allocated = line.allocated { output += "\"allocated\" : \(allocated.bytes), " }
                if let allocations = line.allocations { output += "\"allocations\" : \(allocations), " }
                output += "\"contents\" : \(JSONText.string(line.contents)) }"
            }
            output += "\n      ]\n    }"
        }
        output += "\n  ],\n  \"notes\" : ["
        output += notes.map { JSONText.string($0) }.joined(separator: ", ")
        output += "]\n}\n"
        return output
    }
}

/// A size in bytes as a JSON number, or `null`.
private func jsonBytes(_ size: MemorySize?) -> String {
    size.map { String($0.bytes) } ?? "null"
}
