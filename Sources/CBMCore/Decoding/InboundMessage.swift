/// A message as the broker delivered it, before decoding.
public struct InboundMessage: Sendable, Equatable {
    /// The topic it was published to.
    public var topic: String
    /// The payload bytes.
    public var payload: [UInt8]
    /// When it was received (the recording's time in replay): the time of `value` payloads and
    /// the reference for the `limits` on timestamps.
    public var receivedAt: Timestamp
    /// The QoS it was delivered with.
    public var qos: UInt8
    /// Whether the broker delivered it as a retained message.
    public var retained: Bool
    /// Its sequence number in the journal (0 when not journaled).
    public var sequence: UInt64
    /// Whether `receivedAt` is this daemon's own clock (live, or read back from its journal),
    /// not a recording's, whose lines may be damaged (``DecodeLimits/maxReceiveJumpUS``).
    public var ownClock: Bool

    public init(topic: String, payload: [UInt8], receivedAt: Timestamp, qos: UInt8 = 1, retained: Bool = false,
                sequence: UInt64 = 0, ownClock: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.receivedAt = receivedAt
        self.qos = qos
        self.retained = retained
        self.sequence = sequence
        self.ownClock = ownClock
    }
}

/// One decoded, converted measurement of one asset at one time.
public struct Reading: Sendable, Equatable {
    /// Event time: when the device measured it.
    public var time: Timestamp
    /// The asset, by number (plain bytes: a reading is copied as such).
    public var id: AssetID
    /// The asset's id (looked up: for what is not done per reading).
    public var asset: String {
        get { id.name }
        set { id = AssetID(newValue) }
    }
    /// What was measured.
    public var measurement: Measurement
    /// The value in the reporting unit of the measurement (m³, m³/d, kPa, °C, fraction); gas
    /// volumes at the reporting basis.
    public var value: Double
    /// For totalizers: how the counter's changes are read (its rollover value, in the same unit
    /// as `value`, what counts as a reset, the rate one interval may imply); nil otherwise.
    /// (Looked up by its number: for what is not done per reading.)
    public var counter: CounterRules? {
        get { CounterRules.rules(counterNumber) }
        set { counterNumber = CounterRules.number(of: newValue) }
    }
    /// The same by number (plain bytes, like `id`).
    public var counterNumber: CounterRules.Number

    /// A reading; a totalizer gets the default counter rules with the rollover value given.
    public init(time: Timestamp, asset: String, measurement: Measurement, value: Double, rollover: Double? = nil) {
        self.init(time: time, asset: asset, measurement: measurement, value: value,
                  counter: measurement.isTotalizer ? CounterRules(rollover: rollover) : nil)
    }

    public init(time: Timestamp, asset: String, measurement: Measurement, value: Double, counter: CounterRules?) {
        self.init(time: time, id: AssetID(asset), measurement: measurement, value: value, counter: counter)
    }

    public init(time: Timestamp, id: AssetID, measurement: Measurement, value: Double, counter: CounterRules?) {
        self.init(time: time, id: id, measurement: measurement, value: value, counterNumber: CounterRules.number(of: counter))
    }

    public init(time: Timestamp, id: AssetID, measurement: Measurement, value: Double, counterNumber: CounterRules.Number) {
        self.time = time
        self.id = id
        self.measurement = measurement
        self.value = value
        self.counterNumber = counterNumber
    }

    /// For totalizers: the counter's rollover value, in the same unit as `value`.
    public var rollover: Double? { counter?.rollover }

    /// The unit `value` is in.
    public var unit: String { measurement.dimension.reportingUnit }
}
