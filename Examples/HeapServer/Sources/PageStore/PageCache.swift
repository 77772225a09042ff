import Rendering
import Synchronization

/// A rendered page the cache keeps.
public final class CachedPage: Sendable {
    public let id: Int
    public let body: [UInt8]

    init(id: Int, body: [UInt8]) {
        self.id = id
        self.body = body
    }
}

/// Pages rendered once and kept for good: memory that grows with the number of distinct pages asked for, the way
/// an unbounded cache grows in a real server.
public final class PageCache: Sendable {
    private let pages = Mutex<[Int: CachedPage]>([:])
    private let renderer: PageRenderer

    public init(renderer: PageRenderer) {
        self.renderer = renderer
    }

    /// Page `id`, rendered on the first request and kept.
    public func page(_ id: Int) -> CachedPage {
        if let page = pages.withLock({ $0[id] }) { return page }
        let rendered = CachedPage(id: id, body: renderer.render(id: id))
        return pages.withLock { pages in
            if let page = pages[id] { return page }
            pages[id] = rendered
            return rendered
        }
    }

    /// How many pages the cache holds, and the bytes of their bodies.
    public var statistics: (pages: Int, bodyBytes: Int) {
        pages.withLock { pages in (pages.count, pages.values.reduce(0) { $0 + $1.body.count }) }
    }
}
