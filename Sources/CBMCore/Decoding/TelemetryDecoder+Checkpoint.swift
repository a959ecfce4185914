extension TelemetryDecoder {
    /// The decoder's state (series seen, totalizers' last readings, watermark, last receive time)
    /// for a checkpoint.
    public func save(into w: inout BinaryWriter) {
        w.int(watermark.microseconds)
        w.int(unknownSeries)
        w.int(seriesTotal)
        let ids = index.keys.sorted()
        for id in ids {
            for m in Measurement.allCases where assets[index[id]!].mask & m.bit != 0 {
                w.string(id)
                w.string(m.rawValue)
            }
        }
        // Version 2.
        w.int(lastReceived)
        var counters: [(String, Measurement, CounterState)] = []
        for id in ids {
            let s = assets[index[id]!]
            if s.gasTotal != CounterState() { counters.append((id, .gasTotal, s.gasTotal)) }
            if s.waterTotal != CounterState() { counters.append((id, .waterTotal, s.waterTotal)) }
        }
        w.int(counters.count)
        for (id, m, c) in counters {
            w.string(id)
            w.string(m.rawValue)
            w.int(c.time)
            w.double(c.value)
            w.int(c.rejectedTime)
            w.double(c.rejectedValue)
        }
        // Version 5.
        sparkplug.save(into: &w)
    }

    /// Restores the state a checkpoint saved.
    /// All or nothing: a state that fails to read leaves this one as it was.
    public mutating func restore(from r: inout BinaryReader) throws(BinaryReader.Malformed) {
        var restored = self
        try restored.restoreInPlace(from: &r)
        self = restored
    }

    private mutating func restoreInPlace(from r: inout BinaryReader) throws(BinaryReader.Malformed) {
        watermark = Timestamp(microseconds: try r.time(never: true))
        unknownSeries = Int(try r.amount())
        let n = try r.count()
        index = [:]
        assets = []
        ids = []
        seriesTotal = n
        cacheAsset = ""
        cacheIndex = -1
        func state(_ id: String) -> Int {
            if let i = index[id] { return i }
            var s = AssetState(id: AssetID(id))
            s.bounds(register[id], limits.plausibility)
            index[id] = assets.count
            assets.append(s)
            ids.append(id)
            return assets.count - 1
        }
        for _ in 0..<n {
            let asset = try r.string()
            guard let m = Measurement(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            assets[state(asset)].mask |= m.bit
        }
        guard r.version >= 2 else { return }
        lastReceived = try r.time(never: true)
        for _ in 0..<(try r.count()) {
            let i = state(try r.string())
            let m = try r.string()
            let c = CounterState(time: try r.time(never: true), value: try r.double(), rejectedTime: try r.time(never: true),
                                 rejectedValue: try r.double())
            switch m {
            case Measurement.gasTotal.rawValue: assets[i].gasTotal = c
            case Measurement.waterTotal.rawValue: assets[i].waterTotal = c
            default: throw BinaryReader.Malformed()
            }
        }
        sparkplug = SparkplugSessions()
        guard r.version >= 5 else { return }
        sparkplug = try SparkplugSessions(from: &r)
    }
}
