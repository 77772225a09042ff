import Synchronization

/// A node of an index: one Swift object per entry.
public final class Node: Sendable {
    public let value: Int
    public let payload: [UInt8]

    public init(value: Int, payload: [UInt8]) {
        self.value = value
        self.payload = payload
    }
}

/// Builds `count` nodes, each with a payload of `bytes`.
public func buildIndex(count: Int, payloadBytes bytes: Int) -> [Node] {
    (0..<count).map { Node(value: $0, payload: [UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: bytes)) }
}

/// A buffer of `bytes` bytes, every one written.
public func filledBuffer(bytes: Int) -> [UInt8] {
    [UInt8](repeating: 0x5A, count: bytes)
}

/// A cache that outlives the tests: what a test puts here stays allocated, on purpose.
public enum SharedCache {
    private static let entries = Mutex<[[UInt8]]>([])

    public static func keep(_ entry: [UInt8]) {
        entries.withLock { $0.append(entry) }
    }

    public static var count: Int { entries.withLock { $0.count } }
}

/// A session and its observer, each holding the other strongly: once the caller lets go, a retain cycle.
public final class Session {
    public var observer: SessionObserver?
    public let name: String

    public init(name: String) { self.name = name }
}

public final class SessionObserver {
    public var session: Session?

    public init() {}
}

/// Opens a session with an observer that refers back to it (the mistake: `session` should be weak).
@discardableResult
public func openObservedSession(name: String) -> Int {
    let session = Session(name: name)
    let observer = SessionObserver()
    session.observer = observer
    observer.session = session
    return session.name.count
}
