import Testing
@testable import CBMCore

private func parse(_ s: String) -> Result<JSONValue, JSONSyntaxError> { JSONParser.parse(Array(s.utf8)) }

private func number(_ s: String) -> Double? {
    if case .success(.number(let n)) = parse(s) { return n }
    return nil
}

private func string(_ s: String) -> String? {
    if case .success(.string(let v)) = parse(s) { return v }
    return nil
}

private func error(_ s: String) -> JSONSyntaxError? { parse(s).failure }

private func member(_ k: String, _ v: JSONValue) -> JSONValue.Member { JSONValue.Member(key: k, value: v) }

@Suite("JSON parser: values")
struct JSONValueTests {
    @Test func scalars() {
        #expect(parse("true") == .success(.bool(true)))
        #expect(parse("false") == .success(.bool(false)))
        #expect(parse("null") == .success(.null))
        #expect(parse("1") == .success(.number(1)))
        #expect(parse("\"x\"") == .success(.string("x")))
        // true is not 1
        #expect(parse("true") != .success(.number(1)))
    }

    @Test func objectsArraysAndNesting() {
        #expect(parse("{}") == .success(.object([])))
        #expect(parse("[]") == .success(.array([])))
        #expect(parse(" \n\t{ \r\n } \n") == .success(.object([])))
        #expect(parse("[ ]") == .success(.array([])))
        let v = parse(#"{"a":1,"b":[true,false,null],"c":{"d":"x","e":[]},"f":-2.5}"#)
        #expect(v == .success(.object([
            member("a", .number(1)),
            member("b", .array([.bool(true), .bool(false), .null])),
            member("c", .object([member("d", .string("x")), member("e", .array([]))])),
            member("f", .number(-2.5)),
        ])))
        #expect(parse(#"[{"ts":1},{"ts":2}]"#) == .success(.array([
            .object([member("ts", .number(1))]), .object([member("ts", .number(2))]),
        ])))
        #expect(parse("[[[[1]]]]") == .success(.array([.array([.array([.array([.number(1)])])])])))
        #expect(parse(" { \"k\" : [ 1 , 2 ] } ") == .success(.object([member("k", .array([.number(1), .number(2)]))])))
    }

    @Test func membersKeepPayloadOrderAndTheFirstDuplicateWins() throws {
        let v = try #require(parse(#"{"z":1,"a":2,"z":3}"#).success)
        guard case .object(let members) = v else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["z", "a", "z"])
        #expect(v["z"] == .number(1))
        #expect(v["a"] == .number(2))
        #expect(v["missing"] == nil)
        #expect(JSONValue.array([])["z"] == nil)
    }

    @Test func typeNames() {
        #expect(JSONValue.null.typeName == "null")
        #expect(JSONValue.bool(true).typeName == "a boolean")
        #expect(JSONValue.number(1).typeName == "a number")
        #expect(JSONValue.string("").typeName == "a string")
        #expect(JSONValue.array([]).typeName == "an array")
        #expect(JSONValue.object([]).typeName == "an object")
    }

    @Test func stringsWithEscapes() {
        #expect(string(#""""#) == "")
        #expect(string(#""a\"b\\c\/d\b\f\n\r\t""#) == "a\"b\\c/d\u{08}\u{0C}\n\r\t")
        #expect(string(#""plain then \n escaped""#) == "plain then \n escaped")
        #expect(string(#""\u00e9t\u00C9""#) == "étÉ")
        #expect(string(#""\u4e2d\u6587""#) == "中文")
        #expect(string(#""\u0000""#) == "\u{0}")
        #expect(string("\"中文 raw\"") == "中文 raw")
        #expect(string("\"é\\n中\"") == "é\n中")
    }

    @Test func surrogatePairs() {
        #expect(string(#""\ud83d\ude00""#) == "😀")
        #expect(string(#""\uD834\uDD1E clef""#) == "𝄞 clef")
        #expect(string(#""x\uD83D\uDE00y""#) == "x😀y")
        // A lone surrogate cannot be a scalar: it becomes U+FFFD.
        #expect(string(#""\uD83Dx""#) == "\u{FFFD}x")
        #expect(string(#""\uDE00""#) == "\u{FFFD}")
    }

    @Test func integersAreExact() {
        #expect(number("0") == 0)
        #expect(number("1764300000123") == 1_764_300_000_123)
        #expect(number("1795824000123456") == 1_795_824_000_123_456)
        #expect(number("-42") == -42)
        #expect(number("9007199254740992") == 9_007_199_254_740_992)
        // 2^53 + 1 is not a double: rounds to even, 2^53.
        #expect(number("9007199254740993") == 9_007_199_254_740_992)
        #expect(number("12345678901234567890") == 12_345_678_901_234_567_890.0)
        #expect(number("123456789012345678901234567890") == 123_456_789_012_345_678_901_234_567_890.0)
    }

    @Test func negativeZero() throws {
        let z = try #require(number("-0"))
        #expect(z == 0)
        #expect(z.sign == .minus)
        #expect(try #require(number("0")).sign == .plus)
        #expect(try #require(number("-0.0")).sign == .minus)
    }

    @Test func decimalsAreCorrectlyRounded() {
        #expect(number("0.1") == 0.1)
        #expect(number("0.2") == 0.2)
        #expect(number("0.3") == 0.3)
        #expect(number("12.5") == 12.5)
        #expect(number("-3.75") == -3.75)
        #expect(number("0.30000000000000004") == 0.30000000000000004)
        #expect(number("1795824000.123") == 1_795_824_000.123)
        #expect(number("3.141592653589793") == 3.141592653589793)
        #expect(number("2.718281828459045235360287") == 2.718281828459045235360287)
        #expect(number("123.456") == 123.456)
        #expect(number("0.000001") == 0.000001)
    }

    @Test func exponents() {
        #expect(number("1e3") == 1000)
        #expect(number("1E3") == 1000)
        #expect(number("1e+3") == 1000)
        #expect(number("1E-3") == 0.001)
        #expect(number("2.5e+2") == 250)
        #expect(number("123.456e-2") == 1.23456)
        #expect(number("-1.5e-7") == -1.5e-7)
        #expect(number("1e22") == 1e22)
        #expect(number("1e23") == 1e23)
        #expect(number("1e-22") == 1e-22)
        #expect(number("1e-23") == 1e-23)
        #expect(number("1.7976931348623157e308") == .greatestFiniteMagnitude)
        #expect(number("5e-324") == .leastNonzeroMagnitude)
        #expect(number("1e999") == .infinity)
        #expect(number("-1e999") == -.infinity)
        #expect(number("1e-999") == 0)
        #expect(number("0e10") == 0)
    }

    @Test func leadingZerosOfAFractionAreNotSignificantDigits() {
        // Zeros after the point and before the first significant digit are not digits of the
        // mantissa: 1e-20 has one significant digit, however many zeros precede it.
        #expect(number("0.00000000000000000001") == 1e-20)
        #expect(number("0.0000000000000000001") == 1e-19)
        #expect(number("0.0000000000000000001234567") == 1.234567e-19)
        #expect(number("0.000000000000000001234567") == 1.234567e-18)
        #expect(number("-0.000000000000000000000000000005") == -5e-30)
        #expect(number("0.00000000000000000000000000000000000000000000000001") == 1e-50)
        #expect(number("0.000000000000000000000") == 0)
    }
}

@Suite("JSON parser: errors")
struct JSONErrorTests {
    @Test("errors with their byte offsets", arguments: [
        ("", 0, "empty payload"),
        ("   ", 3, "unexpected end of payload"),
        (#"{"a":1,}"#, 7, "expected a key in quotes"),
        ("[1,2,]", 5, "unexpected character ']'"),
        ("01", 0, "invalid number (leading zero)"),
        ("[-012]", 2, "invalid number (leading zero)"),
        ("00", 0, "invalid number (leading zero)"),
        (#""abc"#, 4, "unterminated string"),
        (#"{"a":"b"#, 7, "unterminated string"),
        (#""a\"#, 3, "unterminated string"),
        ("{} x", 3, "unexpected text after the JSON value"),
        ("1 2", 2, "unexpected text after the JSON value"),
        (#"{"a":1}}"#, 7, "unexpected text after the JSON value"),
        ("\"a\tb\"", 2, "control character in a string"),
        ("\"\\n\n\"", 3, "control character in a string"),
        ("\"\u{1}\"", 1, "control character in a string"),
        (#""\x""#, 2, "invalid escape"),
        (#""ab\'""#, 4, "invalid escape"),
        (#""\u12G4""#, 5, #"invalid \u escape"#),
        (#""\u12""#, 3, "unexpected end of payload"),
        (#""\uD83D\u0041""#, 13, "invalid surrogate pair"),
        ("tru", 0, "unexpected end of payload"),
        ("trUe", 0, "invalid literal"),
        ("nul", 0, "unexpected end of payload"),
        ("nulL", 0, "invalid literal"),
        ("True", 0, "unexpected character 'T'"),
        (#"{"a" 1}"#, 5, "expected ':' after a key"),
        (#"{"a":1 "b":2}"#, 7, "expected ',' or '}'"),
        ("[1 2]", 3, "expected ',' or ']'"),
        ("{1:2}", 1, "expected a key in quotes"),
        (#"{"a":"#, 5, "unexpected end of payload"),
        (#"{"a""#, 4, "expected ':' after a key"),
        ("{", 1, "unexpected end of payload"),
        ("[", 1, "unexpected end of payload"),
        ("[1", 2, "unexpected end of payload"),
        ("1.", 2, "invalid number (digit expected after '.')"),
        ("1.e5", 2, "invalid number (digit expected after '.')"),
        ("1e", 2, "invalid number (digit expected in exponent)"),
        ("1e+", 3, "invalid number (digit expected in exponent)"),
        ("-", 1, "invalid number"),
        ("-a", 1, "invalid number"),
        (".5", 0, "unexpected character '.'"),
        ("+1", 0, "unexpected character '+'"),
        ("NaN", 0, "unexpected character 'N'"),
        ("'a'", 0, "unexpected character '''"),
        ("\u{1}", 0, "unexpected character byte 0x1"),
        ("\u{7f}", 0, "unexpected character byte 0x7f"),
        ("\u{FEFF}{}", 0, "unexpected character byte 0xef"),
    ])
    func errors(_ text: String, _ offset: Int, _ message: String) {
        #expect(error(text) == JSONSyntaxError(offset: offset, message: message))
    }

    @Test func description() {
        #expect(error("{} x")?.description == "unexpected text after the JSON value at byte 3")
    }

    @Test func depthLimit() {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(parse(ok).success != nil)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(error(deep) == JSONSyntaxError(offset: 64, message: "nested deeper than 64 levels"))
        let okObjects = String(repeating: #"{"a":"#, count: 64) + "1" + String(repeating: "}", count: 64)
        #expect(parse(okObjects).success != nil)
        let deepObjects = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(error(deepObjects) == JSONSyntaxError(offset: 320, message: "nested deeper than 64 levels"))
        // Depth is nesting, not the number of containers: many siblings are fine.
        let wide = "[" + Array(repeating: "[[1]]", count: 200).joined(separator: ",") + "]"
        #expect(parse(wide).success != nil)
    }
}
