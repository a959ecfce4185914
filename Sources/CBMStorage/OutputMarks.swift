import CBMCore

/// How far each family's output was written when a checkpoint was taken (the newest JSON Lines
/// file and its length; -1 when no file was open): what comes after a mark was written after the
/// checkpoint. Saved beside the checkpoint's state by ``CheckpointStore``.
public struct OutputMarks: Sendable, Equatable {
    public var marks: [RecordFamily: Mark] = [:]

    public struct Mark: Sendable, Equatable {
        public var name: String
        public var bytes: Int64
    }

    public init(_ marks: [RecordFamily: Mark] = [:]) { self.marks = marks }

    /// The marks of a store's files now.
    public init(of store: OutputStore) {
        for m in store.marks() { marks[m.family] = Mark(name: m.name, bytes: m.bytes) }
    }

    /// Encoded, in the families' order.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        let families = RecordFamily.allCases.filter { marks[$0] != nil }
        w.int(families.count)
        for f in families {
            w.string(f.rawValue)
            w.string(marks[f]!.name)
            w.int(marks[f]!.bytes)
        }
        return w.bytes
    }

    /// Decoded; nil when the bytes are not marks. Families this version does not know are left out.
    public static func decode(_ bytes: [UInt8]) -> OutputMarks? {
        var r = BinaryReader(bytes)
        var out = OutputMarks()
        do {
            for _ in 0..<(try r.count()) {
                let family = RecordFamily(rawValue: try r.string())
                let name = try r.string()
                let length = try r.int()
                if let family { out.marks[family] = Mark(name: name, bytes: length) }
            }
        } catch {
            return nil
        }
        return out
    }
}
