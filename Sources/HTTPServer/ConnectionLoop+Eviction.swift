import Synchronization

/// Eviction at the connection cap (see `Acceptor`): each loop keeps its idle keep-alive
/// connections and its connections awaiting a first head in two LRU lists, and
/// publishes the age of each list's oldest entry so the acceptor can pick a loop
/// without a hop. The lists are touched only on `queue`; the published ages are atomics.
extension ConnectionLoop {
    /// Moves `c` to the list its state calls for (after every event; O(1)). A
    /// connection that served a request since it was listed goes to the newest end.
    func updateEvictable(_ c: Connection) {
        let want = c.state.evictable(inputBuffered: !c.inbuf.isEmpty, outputPending: c.outputPending)
        let links = c.evictionLinks
        if want == links.kind && (want == nil || links.served == c.state.served) { return }
        unlist(c)
        guard let want else { return }
        c.evictionLinks.kind = want
        c.evictionLinks.served = c.state.served
        c.evictionLinks.since = c.state.expiresAt
        withList(want) { $0.append(c) }
    }

    /// Takes `c` out of its eviction list, if it is in one.
    func unlist(_ c: Connection) {
        guard let kind = c.evictionLinks.kind else { return }
        withList(kind) { $0.remove(c) }
    }

    /// Closes this loop's longest-idle keep-alive connection or, if there is none, its
    /// oldest connection still awaiting its first head. Returns false when none is
    /// evictable (any more: the acceptor read the published ages a moment ago).
    @discardableResult
    func evictOldest() -> Bool {
        for kind in [ConnectionState.Evictable.idle, .awaitingFirstHead] {
            while let c = oldestListed(kind) {
                // The lists follow `afterEvent`; check again so that a busy connection is never closed.
                guard c.state.evictable(inputBuffered: !c.inbuf.isEmpty, outputPending: c.outputPending) == kind else {
                    unlist(c)
                    continue
                }
                let peer = c.peerText
                c.closeNow()
                context.rejected(reason: kind.metricLabel, peer: peer)
                return true
            }
        }
        return false
    }

    /// When the oldest connection of `kind` was listed; nil when the list is empty.
    /// Read from the acceptor's queue.
    func oldestSince(_ kind: ConnectionState.Evictable) -> UInt64? {
        let t = kind == .idle ? idleOldestSince.load(ordering: .relaxed) : awaitingOldestSince.load(ordering: .relaxed)
        return t == 0 ? nil : t
    }
}
