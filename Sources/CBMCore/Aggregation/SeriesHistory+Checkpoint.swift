extension SeriesHistory {
    /// One series' readings and its counter settings, for a checkpoint.
    func save(into w: inout BinaryWriter) {
        w.ints(times)
        w.doubles(values)
        w.optionalDouble(counter.rollover)
        w.double(counter.resetBelow)
        w.double(counter.rolloverMargin)
        w.double(counter.maxRateM3d)
        w.int(counter.minSpanUS)
        w.int(counter.stepBackSpanUS)
    }

    static func restore(from r: inout BinaryReader) throws(BinaryReader.Malformed) -> SeriesHistory {
        let times = try r.times(ascending: true), values = try r.doubles()
        guard var h = SeriesHistory(times: times, values: values) else { throw BinaryReader.Malformed() }
        // (Rules read whole, then numbered once: a number is kept for the life of the process.)
        var rules = CounterRules()
        rules.rollover = try r.optionalDouble()
        if r.version >= 2 {
            rules.resetBelow = try r.double()
            rules.rolloverMargin = try r.double()
            rules.maxRateM3d = try r.double()
            rules.minSpanUS = try r.amount()
            rules.stepBackSpanUS = try r.amount()
        }
        h.counter = rules
        return h
    }
}
