// The seed post's second experiment: how much memory a computation needs as its input grows. The workload is
// a pseudo-inverse by the normal equations, pinv(A) = (AᵀA)⁻¹Aᵀ, which creates several n×n temporaries; each
// size runs once, with its own baseline and exact peak.
//
//   swift run -c release memory-scaling                       sizes 100, 200, … 1000
//   swift run -c release memory-scaling --sizes 200,400,800
//   swift run memory-scaling --json --sizes 50,100             a MemoryScalingPoint a line, as JSON (mprof plot
//                                                              draws it; the tests read it)
import FoundationEssentials
import MemoryProfiler

import Glibc

/// A dense row-major matrix of doubles.
struct Matrix {
    let rows: Int
    let columns: Int
    var elements: [Double]

    init(rows: Int, columns: Int, elements: [Double]) {
        self.rows = rows
        self.columns = columns
        self.elements = elements
    }

    /// A matrix with entries from a fixed pseudo-random sequence, with a heavy diagonal so that it is invertible.
    static func random(size: Int) -> Matrix {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var elements = [Double](repeating: 0, count: size * size)
        for index in elements.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            elements[index] = Double(state >> 11) / Double(1 << 53) - 0.5
        }
        for diagonal in 0..<size { elements[diagonal * size + diagonal] += Double(size) }
        return Matrix(rows: size, columns: size, elements: elements)
    }

    var transposed: Matrix {
        var result = [Double](repeating: 0, count: elements.count)
        for row in 0..<rows {
            for column in 0..<columns { result[column * rows + row] = elements[row * columns + column] }
        }
        return Matrix(rows: columns, columns: rows, elements: result)
    }

    static func * (left: Matrix, right: Matrix) -> Matrix {
        var result = [Double](repeating: 0, count: left.rows * right.columns)
        left.elements.withUnsafeBufferPointer { a in
            right.elements.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { c in
                    for row in 0..<left.rows {
                        for inner in 0..<left.columns {
                            let factor = a[row * left.columns + inner]
                            for column in 0..<right.columns {
                                c[row * right.columns + column] += factor * b[inner * right.columns + column]
                            }
                        }
                    }
                }
            }
        }
        return Matrix(rows: left.rows, columns: right.columns, elements: result)
    }

    /// The inverse by Gauss–Jordan elimination with partial pivoting, on an n×2n working copy.
    var inverse: Matrix {
        let n = rows
        var work = [Double](repeating: 0, count: n * 2 * n)
        for row in 0..<n {
            for column in 0..<n { work[row * 2 * n + column] = elements[row * n + column] }
            work[row * 2 * n + n + row] = 1
        }
        work.withUnsafeMutableBufferPointer { w in
            for pivot in 0..<n {
                var best = pivot
                for row in pivot..<n where abs(w[row * 2 * n + pivot]) > abs(w[best * 2 * n + pivot]) { best = row }
                if best != pivot {
                    for column in 0..<(2 * n) { w.swapAt(pivot * 2 * n + column, best * 2 * n + column) }
                }
                let scale = 1 / w[pivot * 2 * n + pivot]
                for column in 0..<(2 * n) { w[pivot * 2 * n + column] *= scale }
                for row in 0..<n where row != pivot {
                    let factor = w[row * 2 * n + pivot]
                    if factor == 0 { continue }
                    for column in 0..<(2 * n) { w[row * 2 * n + column] -= factor * w[pivot * 2 * n + column] }
                }
            }
        }
        var result = [Double](repeating: 0, count: n * n)
        for row in 0..<n {
            for column in 0..<n { result[row * n + column] = work[row * 2 * n + n + column] }
        }
        return Matrix(rows: n, columns: n, elements: result)
    }

    /// The Moore–Penrose pseudo-inverse of a matrix of full column rank.
    var pseudoInverse: Matrix {
        let transpose = transposed
        return (transpose * self).inverse * transpose
    }
}

/// A non-negative `value` with `decimals` digits after the point, rounded: `fixed(2.345, decimals: 1)` is `2.3`.
func fixed(_ value: Double, decimals: Int) -> String {
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (value * Double(scale)).rounded()
    guard scaled >= 0, scaled < 1e15 else { return String(value) }
    let units = Int(scaled)
    let fraction = String(units % scale)
    return "\(units / scale)" + (decimals > 0 ? "." + String(repeating: "0", count: decimals - fraction.count) + fraction : "")
}

var sizes = Array(stride(from: 100, through: 1000, by: 100))
var json = false
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--json":
        json = true
    case "--sizes":
        sizes = (arguments.popFirst() ?? "").split(separator: ",").compactMap { Int($0) }
    default:
        print("usage: memory-scaling [--json] [--sizes N,N,…]")
        exit(2)
    }
}

do {
    let points = try memoryUsage(forInputSizes: sizes) { size in
        let matrix = Matrix.random(size: size)
        let inverse = matrix.pseudoInverse
        precondition(inverse.rows == size)
    }
    if json {
        // One object a line; sorted keys, so that runs compare line by line.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for point in points { print(String(decoding: try encoder.encode(point), as: UTF8.self)) }
    } else {
        print("    n   n×n matrix   baseline       peak  increment   increment / n×n   seconds")
        for point in points {
            let matrix = MemorySize(bytes: point.inputSize * point.inputSize * MemoryLayout<Double>.stride)
            let ratio = Double(point.increment.bytes) / Double(matrix.bytes)
            let seconds = Double(point.duration.components.attoseconds) * 1e-18
                + Double(point.duration.components.seconds)
            let cells = [
                String(point.inputSize), matrix.formatted(precision: 1), point.baseline.formatted(precision: 1),
                point.peak.formatted(precision: 1), point.increment.formatted(precision: 1),
                fixed(ratio, decimals: 1) + "×", fixed(seconds, decimals: 2),
            ]
            let widths = [5, 13, 11, 11, 11, 18, 10]
            print(zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined())
        }
    }
} catch {
    print("Error: \(error)")
    exit(1)
}
