/// A loop's evictable connections of one kind, oldest first: an intrusive doubly-linked
/// list through `Connection.evictionLinks`, so listing, unlisting and moving a
/// connection to the newest end are O(1) (one of each per keep-alive request at most).
///
/// Touched only on the owning loop's queue. The links are strong: a connection is
/// unlisted before it is dropped (`ConnectionLoop.remove`), which breaks the cycles.
struct EvictionList {
    private(set) var oldest: Connection?
    private var newest: Connection?
    private(set) var count = 0

    mutating func append(_ c: Connection) {
        c.evictionLinks.previous = newest
        c.evictionLinks.next = nil
        if let n = newest { n.evictionLinks.next = c } else { oldest = c }
        newest = c
        count += 1
    }

    mutating func remove(_ c: Connection) {
        let previous = c.evictionLinks.previous, next = c.evictionLinks.next
        if let p = previous { p.evictionLinks.next = next } else { oldest = next }
        if let n = next { n.evictionLinks.previous = previous } else { newest = previous }
        c.evictionLinks = EvictionLinks()
        count -= 1
    }
}

/// A connection's place in its loop's eviction lists.
struct EvictionLinks {
    var previous: Connection?
    var next: Connection?
    /// The list the connection is in, if any.
    var kind: ConnectionState.Evictable?
    /// `state.served` when listed: a request served since moves it to the newest end.
    var served = 0
    /// When it was listed, as its phase's deadline (`state.expiresAt`, monotonic
    /// nanoseconds). Every connection of a kind has the same timeout, so deadlines sort
    /// as "idle since" would, without another clock read per request.
    var since: UInt64 = 0
}
