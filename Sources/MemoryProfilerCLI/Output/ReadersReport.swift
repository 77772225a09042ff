import MemoryProfiler

/// What `mprof readers --format json` prints and `mprof plot` draws: one reading of a process with each reader,
/// and with `--bench` what a reading costs.
///
/// Declared once for both ends: ``ReadersCommand`` encodes it and ``JSONChart`` decodes it, so a field cannot be
/// renamed on one side only.
struct ReadersReport: Codable, Equatable {
    /// One reader's reading or the reason it could not read, and with `--bench` what readings cost.
    struct Reading: Codable, Equatable {
        var reader: MemoryReader
        var bytes: Int?
        var mebibytes: Double?
        var error: String?
        var cost: Cost?
    }

    /// What readings with one reader cost: `count` readings timed `repeats` times.
    struct Cost: Codable, Equatable {
        /// The readings per timed run that `--count` allows: 10 million `ps` readings would already take hours.
        static let counts = 1...10_000_000
        /// The timed runs per reader that `--repeats` allows.
        static let repeatsAllowed = 1...1000

        /// Readings per timed run.
        var count: Int
        var repeats: Int
        /// Median over the runs of the time for `count` readings.
        var medianSeconds: Double
        var minimumSeconds: Double
        var maximumSeconds: Double

        /// What one reading costs, the bar a chart draws. Written to the file for whoever reads it, but derived
        /// from the median and the count, so it is not read back.
        var medianMicrosecondsPerReading: Double { medianSeconds / Double(count) * 1e6 }

        init(count: Int, repeats: Int, medianSeconds: Double, minimumSeconds: Double, maximumSeconds: Double) {
            self.count = count
            self.repeats = repeats
            self.medianSeconds = medianSeconds
            self.minimumSeconds = minimumSeconds
            self.maximumSeconds = maximumSeconds
        }

        private enum CodingKeys: String, CodingKey {
            case count, repeats, medianSeconds, minimumSeconds, maximumSeconds, medianMicrosecondsPerReading
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            count = try container.decode(Int.self, forKey: .count)
            repeats = try container.decode(Int.self, forKey: .repeats)
            medianSeconds = try container.decode(Double.self, forKey: .medianSeconds)
            minimumSeconds = try container.decode(Double.self, forKey: .minimumSeconds)
            maximumSeconds = try container.decode(Double.self, forKey: .maximumSeconds)
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(count, forKey: .count)
            try container.encode(repeats, forKey: .repeats)
            try container.encode(medianSeconds, forKey: .medianSeconds)
            try container.encode(minimumSeconds, forKey: .minimumSeconds)
            try container.encode(maximumSeconds, forKey: .maximumSeconds)
            try container.encode(medianMicrosecondsPerReading, forKey: .medianMicrosecondsPerReading)
        }
    }

    /// The process read.
    var pid: ProcessID
    /// One per reader, in the order they were asked for.
    var readings: [Reading]
}
