/// How one figure, `CMA_SHUTDOWN_GRACE_SECONDS`, bounds the whole stop after SIGTERM.
/// Times count from the moment the stop flag is set (claiming stops, webhooks get 503,
/// `/readyz` 503):
///
/// | until | what |
/// |---|---|
/// | `launchesUntil` | launches in flight may finish |
/// | `stopsUntil` | the rest are cancelled; their items are force-stopped with a reason (rule 37), pending stops and the after-hand-off metadata writes are flushed |
/// | `grace` | the HTTP server closes (in-flight answers get `httpGrace`), then the process exits 0 |
///
/// The reserve after the launches is 40 % of the grace, at most 10 s. A pure value.
struct ShutdownPlan: Sendable, Equatable {
    let grace: Duration

    var reserve: Duration { min(grace * 0.4, .seconds(10)) }
    var launchesUntil: Duration { grace - reserve }
    var stopsUntil: Duration { grace - reserve / 2 }
    var httpGrace: Duration { reserve / 2 }
}
