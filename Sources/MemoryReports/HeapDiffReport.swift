import MemoryProfiler
internal import MemoryProfilerSystem

/// How a view of the heap changed between two profiles, by site, as `mprof heap diff` reports it.
///
/// ```swift
/// let diff = HeapDiffReport(before: yesterday, after: today, view: .peak)
/// if diff.exceeds(.share(0.05)) { print(diff.text()) }
/// ```
public struct HeapDiffReport: Sendable, Encodable {
    /// A limit on growth: a share of the total before (0.05 for 5 %), or an amount (bytes, or allocations for a
    /// counted view).
    public enum Limit: Sendable, Hashable {
        case share(Double)
        case amount(Int)
    }

    /// The view compared.
    public var view: HeapProfile.View
    /// The view's total before and after.
    public var totalBefore, totalAfter: Int
    /// The sites that changed, largest changes first.
    public var changes: [HeapProfile.SiteChange]
    /// How many changes ``text()`` lists.
    public let top: Int

    /// Compares `view` from `before` to `after`; the text lists the `top` largest changes.
    public init(before: HeapProfile, after: HeapProfile, view: HeapProfile.View, top: Int = 20) {
        (changes, totalBefore, totalAfter) = HeapProfile.compare(before, after, view: view)
        self.view = view
        self.top = max(1, top)
    }

    /// `totalAfter - totalBefore`.
    public var growth: Int { totalAfter - totalBefore }

    /// The growth as a percentage of the total before (100 when it grew from nothing).
    public var growthPercent: Double {
        totalBefore > 0 ? Double(growth) / Double(totalBefore) * 100 : (growth > 0 ? 100 : 0)
    }

    /// Whether the total grew by more than `limit`.
    public func exceeds(_ limit: Limit) -> Bool {
        switch limit {
        case .share(let share): totalBefore > 0 ? Double(growth) > share * Double(totalBefore) : growth > 0
        case .amount(let amount): growth > amount
        }
    }

    /// The growth in words: `+12.0 MiB (25.0%)`.
    public var growthText: String { "\(signed(growth)) (\(DecimalFormat.fixed(growthPercent, decimals: 1))%)" }

    /// The report as `mprof heap diff` prints it: the totals, then the changes by site. Site names are escaped for
    /// the terminal.
    public func text() -> String {
        var text = "\(view.rawValue.uppercased()): \(amount(totalBefore)) → \(amount(totalAfter)) "
            + "(\(signed(growth)), \(DecimalFormat.fixed(growthPercent, decimals: 1))%)\n"
        guard !changes.isEmpty else { return text + "  no site changed\n" }
        text += "  \(String(repeating: " ", count: 2))    change      before       after  site\n"
        for change in changes.prefix(top) {
            let mark = change.before == 0 ? "  (new)" : change.after == 0 ? "  (gone)" : ""
            text += "  \(pad(signed(change.change), 10))  \(pad(amount(change.before), 10))  \(pad(amount(change.after), 10))  "
                + "\(TerminalText.escaped(change.site))\(mark)\n"
        }
        if changes.count > top { text += "  … and \(Quantity.count(changes.count - top)) more (--top)\n" }
        return text
    }

    private func amount(_ value: Int) -> String { view.isCounted ? Quantity.count(value) : Quantity.bytes(value) }

    private func signed(_ value: Int) -> String { (value > 0 ? "+" : value < 0 ? "-" : "±") + amount(abs(value)) }

    private func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
}

extension HeapProfile.SiteChange: Encodable {
    private enum CodingKeys: String, CodingKey { case site, before, after, change }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(site, forKey: .site)
        try container.encode(before, forKey: .before)
        try container.encode(after, forKey: .after)
        try container.encode(change, forKey: .change)
    }
}
