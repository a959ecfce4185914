import Foundation

/// The `json` format: a flat object read by ``FlatJSON`` (where the line was read, or here), or
/// anything else through the parser, each object's time, asset and values.
extension TelemetryDecoder {
    mutating func decodeJSON<Message: TelemetryMessage>(_ message: Message, rule: JSONRule, route: RouteRule,
                                                        prepared: RawMessage.Prepared?, into out: inout Output<Message>) {
        if scansFlatPayloads, let p = prepared, p.payload != .notScanned {
            // Scanned where it was read: its values, or that it takes the parser.
            if let slots = p.slots {
                return message.withPayload { bytes in
                    decodeObject(ScannedFields(slots: slots, bytes: bytes, valuesBase: rule.valuesBase), path: "payload",
                                 message: message, rule: rule, route: route, into: &out)
                }
            }
        } else if scansFlatPayloads, let scanner = rule.scanner {
            // The common flat object, read without a value tree; anything else takes the parser.
            var slots: [FlatJSON.Slot] = []
            swap(&slots, &flatSlots)
            defer { swap(&slots, &flatSlots) }
            let scanned = message.withPayload { bytes in
                guard scanner.scan(bytes, into: &slots) else { return false }
                slots.withUnsafeBufferPointer { s in
                    decodeObject(ScannedFields(slots: s, bytes: bytes, valuesBase: rule.valuesBase), path: "payload",
                                 message: message, rule: rule, route: route, into: &out)
                }
                return true
            }
            if scanned { return }
        }
        let root: JSONValue
        switch message.withPayload({ JSONParser.parse($0) }) {
        case .success(let v): root = v
        case .failure(let e): return out.reject(.notJSON(e))
        }
        switch root {
        case .object:
            decodeObject(root, path: "payload", message: message, rule: rule, route: route, into: &out)
        case .array(let items):
            for (i, item) in items.enumerated() {
                let path = "[\(i)]"
                guard case .object = item else {
                    out.reject(.notAnObject(path: path, found: item.typeName))
                    continue
                }
                decodeObject(item, path: path, message: message, rule: rule, route: route, into: &out)
            }
        default:
            out.reject(.notAnObject(path: "payload", found: root.typeName))
        }
    }

    private mutating func decodeObject<Object: PayloadFields, Message: TelemetryMessage>(
        _ object: Object, path: String, message: Message, rule: JSONRule, route: RouteRule,
        into out: inout Output<Message>
    ) {
        // (The layout is read where it lies, in the rule: a message copies none of its texts.)
        let top = path == "payload"
        func at(_ key: String) -> String { top ? key : "\(path).\(key)" }
        // Time.
        let time: Timestamp
        switch object.number(slot: 0).map({ JSONValue.number($0) }) ?? object.field(rule.layout.timeKey, slot: 0) {
        case nil, .null?:
            return out.reject(.missingTime(key: at(rule.layout.timeKey)))
        case let value?:
            switch Self.time(value, format: rule.layout.timeFormat) {
            case .success(let t): time = t
            case .failure(let why): return out.reject(.badTime(path: at(rule.layout.timeKey), text: Self.show(value), why: why.message))
            }
        }
        if let problem = timeProblem(time, receivedAt: message.receivedAt, path: at(rule.layout.timeKey)) { return out.reject(problem) }
        // Asset.
        var asset: String?
        if let key = rule.layout.assetKey, let v = object.field(key, slot: 1) {
            switch v {
            case .string(let s) where !s.isEmpty: asset = s
            case .number(let n) where n == n.rounded() && abs(n) < 1e15: asset = String(Int64(n))
            default: break
            }
        }
        // The topic's asset: its index may be known already.
        let hint = asset == nil ? route : nil
        if asset == nil { asset = route.asset }
        guard let asset else { return out.reject(.missingAsset(key: rule.layout.assetKey ?? "{asset}")) }
        // Values.
        var found = false
        // (By index: a key's mapping is read only when the payload has the key.)
        let keys = rule.keys
        for i in keys.indices {
            // A number, the common case, is read as such: no value is made of it.
            if let n = object.number(valueAt: i) {
                found = true
                accept(n, shown: Self.show(.number(n)), path: at(keys[i]), mapping: rule.mappings[i], asset: asset, hint: hint,
                       time: time, into: &out)
                continue
            }
            let key = keys[i]
            guard let v = object.field(key, valueAt: i) else { continue }
            found = true
            let raw: Double
            switch v {
            case .null:
                continue  // offline: no value is not zero
            case .number(let n):
                raw = n
            case .string(let s):
                guard let n = DecimalNumber.parse(s.trimmingCharacters(in: .whitespaces)) else {
                    out.reject(.notANumber(path: at(key), found: Self.show(v)))
                    continue
                }
                raw = n
            default:
                out.reject(.notANumber(path: at(key), found: Self.show(v)))
                continue
            }
            accept(raw, shown: Self.show(v), path: at(key), mapping: rule.mappings[i], asset: asset, hint: hint, time: time, into: &out)
        }
        if !found {
            out.reject(.noMeasurement(path: path, keys: rule.keys))
        }
    }
}
