import Testing
@testable import CBMCore

private func rows(_ s: String) -> [CSV.Row]? { CSV.parse(s).success }
private func row(_ line: Int, _ fields: String...) -> CSV.Row { CSV.Row(line: line, fields: fields) }

@Suite("CSV")
struct CSVTests {
    @Test func plainRows() {
        #expect(rows("a,b,c\n1,2,3\n") == [row(1, "a", "b", "c"), row(2, "1", "2", "3")])
        #expect(rows("a,b\n1,2") == [row(1, "a", "b"), row(2, "1", "2")])  // no final newline
        #expect(rows("a,,c\n,\n") == [row(1, "a", "", "c"), row(2, "", "")])
        #expect(rows("a,") == [row(1, "a", "")])
        #expect(rows(" a , b ") == [row(1, " a ", " b ")])  // spaces are data
        #expect(rows("") == [])
        #expect(rows("\n\n") == [])
    }

    @Test func quotes() {
        #expect(rows(#""a,b","c""d",e"#) == [row(1, "a,b", "c\"d", "e")])
        #expect(rows(#""""#) == [])  // a lone empty field is a blank line
        #expect(rows(#""",x"#) == [row(1, "", "x")])
        #expect(rows(#""""""#) == [row(1, "\"")])
        #expect(rows(#"x,"中文,""ok""""#) == [row(1, "x", "中文,\"ok\"")])
    }

    @Test func embeddedNewlinesKeepLineNumbers() {
        let text = "id,note\nW1,\"line one\nline two\nline three\"\nW2,x\n\nW3,y\n"
        #expect(rows(text) == [
            row(1, "id", "note"),
            row(2, "W1", "line one\nline two\nline three"),
            row(5, "W2", "x"),
            row(7, "W3", "y"),
        ])
    }

    @Test func crlf() {
        #expect(rows("a,b\r\n1,2\r\n\r\n3,4\r\n") == [row(1, "a", "b"), row(2, "1", "2"), row(4, "3", "4")])
        // Inside quotes, CR LF is data.
        #expect(rows("a,\"x\r\ny\"\r\nb,c\r\n") == [row(1, "a", "x\r\ny"), row(3, "b", "c")])
    }

    @Test func byteOrderMark() {
        let r = rows("\u{FEFF}id,kind\nW1,well\n")
        #expect(r == [row(1, "id", "kind"), row(2, "W1", "well")])
        #expect(r?.first?.fields.first?.utf8.count == 2)
    }

    @Test func commentsAndBlankLines() {
        let text = "# the register\n\nid,kind\n# a comment, with a comma\nW1,well\n   \n#last"
        #expect(rows(text) == [row(3, "id", "kind"), row(5, "W1", "well"), row(6, "   ")])
        // "#" only comments at the start of a record.
        #expect(rows("a,#b\n") == [row(1, "a", "#b")])
        #expect(rows("#c\r\nx\r\n") == [row(2, "x")])
    }

    @Test func syntaxErrors() {
        #expect(CSV.parse("id,note\nW1,\"open\nmore\nstill\n").failure
            == CSV.SyntaxError(line: 2, message: "a quoted field is never closed"))
        #expect(CSV.parse("a,b\"c\n").failure
            == CSV.SyntaxError(line: 1, message: "a quote inside an unquoted field (quote the whole field and double the quote)"))
        #expect(CSV.parse("x\ny\nab\"c\n").failure?.line == 3)
        #expect(CSV.parse("a\n\"b\"c\n").failure == CSV.SyntaxError(line: 2, message: "text after the closing quote of a field"))
        #expect(CSV.parse("\"a\nb\"x").failure == CSV.SyntaxError(line: 2, message: "text after the closing quote of a field"))
    }

    @Test func quoting() {
        #expect(CSV.quote("plain") == "plain")
        #expect(CSV.quote("") == "")
        #expect(CSV.quote("中文") == "中文")
        #expect(CSV.quote("a,b") == "\"a,b\"")
        #expect(CSV.quote("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSV.quote("l1\nl2") == "\"l1\nl2\"")
        #expect(CSV.quote("cr\r") == "\"cr\r\"")
        #expect(CSV.quote("a\r\nb") == "\"a\r\nb\"")
    }

    @Test func quoteThenParseRoundTrips() {
        let fields = ["plain", "a,b", "say \"hi\"", "l1\nl2", "", "中文", "\"", "x\r\ny"]
        let line = fields.map(CSV.quote).joined(separator: ",")
        #expect(rows(line + "\n") == [CSV.Row(line: 1, fields: fields)])
    }
}

@Suite("Asset register")
struct AssetRegisterTests {
    private func parse(_ text: String) -> (register: AssetRegister, problems: [ConfigProblem]) {
        AssetRegister.parseCSV(text, file: "assets.csv")
    }

    private let header = "id,kind,field,block,sector,expected_gas_m3d\n"

    @Test func goodRegister() throws {
        let (register, problems) = parse("""
            id,kind,field,block,sector,expected_gas_m3d,operator
            W-001,well,qinshui,b3,,1200,CUCBM
            W-002, Well ,qinshui,b3,,,
            D-01,delivery,,,power,,
            D-02,DELIVERY,,,City_Gas,,
            F-01,flare,qinshui,,,,
            """)
        #expect(problems == [])
        #expect(register.count == 5)
        #expect(register.assets.map(\.id) == ["W-001", "W-002", "D-01", "D-02", "F-01"])
        #expect(register.count(of: .well) == 2)
        #expect(register.count(of: .delivery) == 2)
        #expect(register.count(of: .flare) == 1)
        #expect(register["W-001"] == Asset(id: "W-001", kind: .well, field: "qinshui", block: "b3", expectedGasM3d: 1200,
                                           attributes: ["operator": "CUCBM"]))
        #expect(register["W-002"] == Asset(id: "W-002", kind: .well, field: "qinshui", block: "b3"))
        #expect(register["D-01"] == Asset(id: "D-01", kind: .delivery, sector: .power))
        #expect(register["D-02"]?.sector == .cityGas)
        #expect(register["F-01"] == Asset(id: "F-01", kind: .flare, field: "qinshui"))
        #expect(register["W-404"] == nil)
        #expect(register.byID.count == 5)
    }

    @Test func columnsInAnyOrderWithCommentsAndCRLF() {
        let (register, problems) = parse("# register\r\nKind , ID,block,field\r\nwell,W-9,b1,f1\r\n")
        #expect(problems == [])
        #expect(register["W-9"] == Asset(id: "W-9", kind: .well, field: "f1", block: "b1"))
    }

    @Test func duplicateID() {
        let (register, problems) = parse(header + """
            W-001,well,qinshui,b3,,100
            W-002,well,qinshui,b3,,
            W-001,well,other,b9,,200
            """)
        #expect(problems == [ConfigProblem(file: "assets.csv", line: 4, key: "id",
                                           message: "\"W-001\" is registered twice (first on line 2)")])
        #expect(problems.first?.description == "assets.csv:4: id: \"W-001\" is registered twice (first on line 2)")
        #expect(register.count == 2)
        #expect(register["W-001"]?.expectedGasM3d == 100)  // the first stays
    }

    @Test("one problem per row", arguments: [
        ("P-1,pump,qinshui,b3,,", "kind", "unknown kind \"pump\" (use well, delivery or flare)"),
        ("P-1,,qinshui,b3,,", "kind", "missing: use well, delivery or flare"),
        ("D-1,delivery,,,,", "sector", "missing: a delivery meter needs the sector it delivers to"),
        ("D-1,delivery,,,chemicals,", "sector",
         "unknown sector \"chemicals\" (use power, transport, industry, materials, storage, city_gas, pipeline_export)"),
        ("W-1,well,qinshui,,,", "block", "missing: a well needs its block"),
        ("W-1,well,,b3,,", "field", "missing: a well needs its field"),
        ("W-1,well,qinshui,b3,,lots", "expected_gas_m3d", "\"lots\" is not a volume in m3/d (a number ≥ 0)"),
        ("W-1,well,qinshui,b3,,-5", "expected_gas_m3d", "\"-5\" is not a volume in m3/d (a number ≥ 0)"),
        ("W-1,well,qinshui,b3,,nan", "expected_gas_m3d", "\"nan\" is not a volume in m3/d (a number ≥ 0)"),
        ("W-1,well,qinshui,b3,,inf", "expected_gas_m3d", "\"inf\" is not a volume in m3/d (a number ≥ 0)"),
        (",well,qinshui,b3,,", "id", "missing: every asset needs an id"),
        ("a/b,well,qinshui,b3,,", "id", "\"a/b\" contains an MQTT topic character (/ + #)"),
        ("a+b,flare,,,,", "id", "\"a+b\" contains an MQTT topic character (/ + #)"),
        ("W-1,well,qinshui,b3", "", "4 fields, the header has 6"),
        ("W-1,well,qinshui,b3,,,extra", "", "7 fields, the header has 6"),
    ])
    func problem(_ line: String, _ key: String, _ message: String) {
        // The bad row is on line 3, between two good ones that are kept.
        let (register, problems) = parse(header + "W-0,well,qinshui,b3,,\n" + line + "\nF-0,flare,,,,\n")
        #expect(problems == [ConfigProblem(file: "assets.csv", line: 3, key: key, message: message)])
        #expect(register.assets.map(\.id) == ["W-0", "F-0"])
    }

    @Test func everyProblemOfARowIsReported() {
        let (register, problems) = parse(header + "W-1,well,,,,-1\nD-1,delivery,,,,x\n")
        #expect(problems == [
            ConfigProblem(file: "assets.csv", line: 2, key: "field", message: "missing: a well needs its field"),
            ConfigProblem(file: "assets.csv", line: 2, key: "block", message: "missing: a well needs its block"),
            ConfigProblem(file: "assets.csv", line: 2, key: "expected_gas_m3d", message: "\"-1\" is not a volume in m3/d (a number ≥ 0)"),
            ConfigProblem(file: "assets.csv", line: 3, key: "sector", message: "missing: a delivery meter needs the sector it delivers to"),
            ConfigProblem(file: "assets.csv", line: 3, key: "expected_gas_m3d", message: "\"x\" is not a volume in m3/d (a number ≥ 0)"),
        ])
        #expect(register.count == 0)
    }

    @Test func linesCountCommentsAndQuotedNewlines() {
        let text = "# comment\nid,kind,field,block,note\n\"W-1\",well,f,b,\"two\nlines\"\nW-2,well,f,\n"
        let (register, problems) = parse(text)
        #expect(problems == [ConfigProblem(file: "assets.csv", line: 5, key: "", message: "4 fields, the header has 5")])
        #expect(register["W-1"]?.attributes == ["note": "two\nlines"])
    }

    @Test func missingHeaderColumns() {
        let (register, problems) = parse("\nname,field,block\nW-1,f,b\n")
        #expect(problems == [
            ConfigProblem(file: "assets.csv", line: 2, key: "id", message: "missing column in the header"),
            ConfigProblem(file: "assets.csv", line: 2, key: "kind", message: "missing column in the header"),
        ])
        #expect(register.count == 0)
        #expect(parse("id,field\nW-1,f\n").problems == [
            ConfigProblem(file: "assets.csv", line: 1, key: "kind", message: "missing column in the header"),
        ])
    }

    @Test func emptyOrBrokenFile() {
        #expect(parse("").problems == [ConfigProblem(
            file: "assets.csv", line: 1, key: "",
            message: "empty register: expected a header line id,kind,field,block,sector,expected_gas_m3d")])
        #expect(parse("# only a comment\n").problems.count == 1)
        #expect(parse(header + "W-1,well,f,b,,\nW-2,\"well,f,b,,\n").problems == [
            ConfigProblem(file: "assets.csv", line: 3, key: "", message: "a quoted field is never closed"),
        ])
    }

    @Test func registerFromAssets() {
        let r = AssetRegister([Asset(id: "A", kind: .well), Asset(id: "B", kind: .flare), Asset(id: "A", kind: .flare)])
        #expect(r.count == 2)
        #expect(r["A"]?.kind == .well)
        #expect(AssetRegister().count == 0)
    }

    @Test func inlineAssetsReportTheirOwnPlaces() {
        // Asset.make serves inline config too: `place` names where each column came from.
        let row = ["id": "W-1", "kind": "well", "field": "f", "expected_gas_m3d": "-1", "pad": "7", "note": ""]
        let made = Asset.make(row, place: { ("cbm.yaml", 40, "assets[3].\($0)") })
        #expect(made.asset == nil)
        #expect(made.problems == [
            ConfigProblem(file: "cbm.yaml", line: 40, key: "assets[3].block", message: "missing: a well needs its block"),
            ConfigProblem(file: "cbm.yaml", line: 40, key: "assets[3].expected_gas_m3d",
                          message: "\"-1\" is not a volume in m3/d (a number ≥ 0)"),
        ])
        let good = Asset.make(["id": " W-2 ", "kind": "flare", "pad": "7", "note": ""], place: { ("cbm.yaml", 0, $0) })
        #expect(good.problems == [])
        #expect(good.asset == Asset(id: "W-2", kind: .flare, attributes: ["pad": "7"]))
    }

    @Test func configProblemDescriptions() {
        #expect(ConfigProblem(file: "cbm.yaml", line: 12, key: "subscriptions[0].topic", message: "empty topic").description
            == "cbm.yaml:12: subscriptions[0].topic: empty topic")
        #expect(ConfigProblem(file: "cbm.yaml", line: 0, key: "", message: "not found").description == "cbm.yaml: not found")
        #expect(ConfigProblem(file: "a.csv", line: 3, key: "", message: "4 fields, the header has 6").description
            == "a.csv:3: 4 fields, the header has 6")
    }

    @Test("a register's fields lose the white space at their ends, ASCII or not, and nothing else")
    func trimmedFields() {
        let csv = "id,kind,field,block,sector,expected_gas_m3d\n  W-1 ,\twell,\u{3000}沁水\u{3000},b 3, ,\u{00A0}1200\n"
        let (register, problems) = AssetRegister.parseCSV(csv, file: "a.csv")
        #expect(problems.isEmpty, "\(problems)")
        let w = register["W-1"]
        #expect(w?.kind == .well && w?.field == "沁水" && w?.block == "b 3" && w?.sector == nil && w?.expectedGasM3d == 1200)
        for (field, trimmed) in [("x", "x"), (" x", "x"), ("x\t", "x"), ("\u{3000}x", "x"), ("a b", "a b"), ("", ""), ("  ", ""), ("é ", "é")] {
            #expect(Asset.trimmed(field) == trimmed, "\(field)")
        }
    }
}
