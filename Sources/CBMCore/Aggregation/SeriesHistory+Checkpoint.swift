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
        h.counter.rollover = try r.optionalDouble()
        if r.version >= 2 {
            h.counter.resetBelow = try r.double()
            h.counter.rolloverMargin = try r.double()
            h.counter.maxRateM3d = try r.double()
            h.counter.minSpanUS = try r.amount()
            h.counter.stepBackSpanUS = try r.amount()
        }
        return h
    }
}
