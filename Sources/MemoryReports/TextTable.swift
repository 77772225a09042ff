/// Columns of text for the terminal, each as wide as its widest cell, two blanks apart; the last column is left as it
/// is (it holds the long text). Cells are printed as given: escape text from files and processes before.
public enum TextTable {
    /// The rows, the first being the header: columns in `left` to the left, the others (numbers) to the right; each
    /// line starts with `indent`.
    public static func render(_ rows: [[String]], left: Set<Int>, indent: String = "") -> String {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        return rows.map { row in
            indent + row.enumerated().map { column, cell in
                guard column < row.count - 1 else { return cell }
                let padding = String(repeating: " ", count: max(widths[column] - cell.count, 0))
                return left.contains(column) ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
