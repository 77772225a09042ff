import Synchronization

/// A session and its observer refer to each other strongly: once the request that made them is done, nothing else
/// refers to either, and neither is ever freed. The bug is on purpose: the profiler must find these objects as leaks.
public final class Session: @unchecked Sendable {
    public let id: Int
    var observer: SessionObserver?

    init(id: Int) {
        self.id = id
    }
}

public final class SessionObserver: @unchecked Sendable {
    let session: Session

    init(session: Session) {
        self.session = session
    }
}

/// Opens sessions and counts them.
public final class SessionRegistry: Sendable {
    private let opened = Atomic<Int>(0)

    public init() {}

    /// Opens a session for `id` and returns its identifier; the session and its observer leak.
    public func open(id: Int) -> Int {
        let session = Session(id: id)
        session.observer = SessionObserver(session: session)
        opened.add(1, ordering: .relaxed)
        return session.id
    }

    /// How many sessions were opened (and leaked).
    public var openedCount: Int { opened.load(ordering: .relaxed) }
}
