extension Duration {
    /// Seconds as a Double, for wire fields and comparisons.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
