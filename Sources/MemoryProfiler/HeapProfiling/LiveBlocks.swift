#if os(Linux)
import Glibc
#endif

/// The blocks allocated and not yet freed while a capture is replayed: address → allocation index. (Also the
/// replay's other maps from a non-zero 64-bit key to a 32-bit number, for its speed.)
///
/// Open addressing with linear probing and backward-shift deletion (no tombstones), in one buffer: a replay of
/// ten million allocations inserts and removes each once, and `Dictionary` spends most of the replay's time there.
/// Address 0 marks an empty slot (no allocation returns it).
///
/// The table's memory comes from `calloc`, so that a table that cannot grow (the memory, or `RLIMIT_AS`, is
/// exhausted: a Swift allocation would end the process) says so in `outOfMemory` and the replay fails with that
/// reason; it goes on taking blocks until it is 15/16 full, and drops them after that.
final class LiveBlocks {
    private var keys: UnsafeMutablePointer<UInt64>
    private var values: UnsafeMutablePointer<UInt32>
    private var mask: Int
    private(set) var count = 0
    /// The table could not grow: what it holds from then on may be incomplete.
    private(set) var outOfMemory = false

    init() {
        // 768 KiB to start, or as little as 16 slots where even that is not to be had.
        for capacity in [1 << 16, 1 << 4] {
            if let (keys, values) = Self.table(capacity) {
                self.keys = keys
                self.values = values
                mask = capacity - 1
                return
            }
        }
        preconditionFailure("no memory for a table of 16 entries")
    }

    deinit {
        free(keys)
        free(values)
    }

    /// Zeroed keys and values for `capacity` slots; nil when there is no memory for them.
    private static func table(_ capacity: Int) -> (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt32>)? {
        guard let keys = calloc(capacity, MemoryLayout<UInt64>.stride) else { return nil }
        guard let values = calloc(capacity, MemoryLayout<UInt32>.stride) else {
            free(keys)
            return nil
        }
        return (keys.bindMemory(to: UInt64.self, capacity: capacity), values.bindMemory(to: UInt32.self, capacity: capacity))
    }

    /// Random for each table: keys come from files, and a file made so that its keys share a slot (or a probe run)
    /// would make every insertion walk them all, unless the file's maker cannot know the slots.
    private let seed = UInt64.random(in: .min ... .max)

    /// Every bit of the key reaches the slot (splitmix64's finaliser): keys that differ only in their high bits —
    /// sizes and stack nodes packed above the low ones — spread as well as addresses do.
    @inline(__always) private func slot(of key: UInt64) -> Int {
        var mixed = key ^ seed
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: mixed ^ (mixed >> 31)) & mask
    }

    /// Records `address` as allocation `index`; an address already present (a free the capture missed) is
    /// replaced and its old allocation returned.
    @discardableResult
    func insert(_ address: UInt64, _ index: UInt32) -> UInt32? {
        // 0 marks an empty slot: no block lives there (a capture that says one does is ignored on this point).
        guard address != 0 else { return nil }
        if (count + 1) * 2 > mask + 1, !outOfMemory { grow() }
        if outOfMemory, (count + 1) * 16 > (mask + 1) * 15 { return nil }
        var at = slot(of: address)
        while keys[at] != 0 {
            if keys[at] == address {
                let old = values[at]
                values[at] = index
                return old
            }
            at = (at + 1) & mask
        }
        keys[at] = address
        values[at] = index
        count += 1
        return nil
    }

    /// The allocation index of live block `address`, or nil.
    func find(_ address: UInt64) -> UInt32? {
        guard address != 0 else { return nil }
        var at = slot(of: address)
        while keys[at] != address {
            if keys[at] == 0 { return nil }
            at = (at + 1) & mask
        }
        return values[at]
    }

    /// Removes `address` and returns its allocation index, or nil when it is not live.
    func remove(_ address: UInt64) -> UInt32? {
        guard address != 0 else { return nil }
        var at = slot(of: address)
        while keys[at] != address {
            if keys[at] == 0 { return nil }
            at = (at + 1) & mask
        }
        let value = values[at]
        // Backward shift: move later entries of the probe run into the hole when their home allows it.
        var hole = at
        var next = (at + 1) & mask
        while keys[next] != 0 {
            let home = slot(of: keys[next])
            let distanceToHole = (hole - home) & mask, distanceToNext = (next - home) & mask
            if distanceToHole < distanceToNext {
                keys[hole] = keys[next]
                values[hole] = values[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        keys[hole] = 0
        count -= 1
        return value
    }

    private func grow() {
        let oldKeys = keys, oldValues = values, oldCapacity = mask + 1
        let capacity = oldCapacity * 2
        guard let (newKeys, newValues) = Self.table(capacity) else {
            outOfMemory = true
            return
        }
        keys = newKeys
        values = newValues
        mask = capacity - 1
        count = 0
        for index in 0..<oldCapacity where oldKeys[index] != 0 {
            insert(oldKeys[index], oldValues[index])
        }
        free(oldKeys)
        free(oldValues)
    }
}
