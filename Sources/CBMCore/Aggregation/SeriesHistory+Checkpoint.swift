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
        var h = SeriesHistory()
        h.times = try r.times(ascending: true)
        h.values = try r.doubles()
        h.counter.rollover = try r.optionalDouble()
        if r.version >= 2 {
            h.counter.resetBelow = try r.double()
            h.counter.rolloverMargin = try r.double()
            h.counter.maxRateM3d = try r.double()
            h.counter.minSpanUS = try r.amount()
            h.counter.stepBackSpanUS = try r.amount()
        }
        guard h.times.count == h.values.count else { throw BinaryReader.Malformed() }
        return h
    }
}
