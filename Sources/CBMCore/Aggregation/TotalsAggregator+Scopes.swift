/// Rolling up scopes: a closed window's per-asset figures become the records of every scope, by the
/// register's ``AssetHierarchy`` (wells → blocks → fields → all, meters → sectors → all, flares →
/// all). Closing windows is in `TotalsAggregator.swift`.
extension TotalsAggregator {

    /// The records of every scope for one window.
    func records(_ kind: WindowKind, _ span: WindowSpan, _ figs: [String: Figures]) -> [TotalsRecord] {
        let length = Double(span.length)
        func coverage(_ f: FluidTotals) -> Double { min(1, Double(f.coveredUS) / length) }
        func record(_ scope: TotalsRecord.Scope, _ id: String) -> TotalsRecord {
            TotalsRecord(window: kind, span: span, scope: scope, id: id, flowSeconds: 0, coverage: 0, samples: 0,
                         estimated: false, revision: 0)
        }
        var out: [TotalsRecord] = []
        // A sum of members, in id order, with their quality.
        struct Rollup {
            var gas = 0.0, water = 0.0, flowUS: Int64 = 0, samples = 0, estimated = false
            var coverageSum = 0.0, members = 0
            mutating func add(_ f: Figures, coverage: Double) {
                gas += f.gas.volume
                water += f.water.volume
                flowUS += f.gas.flowUS
                samples += f.gas.samples + f.water.samples
                estimated = estimated || f.gas.estimated || f.water.estimated
                coverageSum += coverage
                members += 1
            }
            mutating func add(_ o: Rollup) {
                gas += o.gas
                water += o.water
                flowUS += o.flowUS
                samples += o.samples
                estimated = estimated || o.estimated
                coverageSum += o.coverageSum
                members += o.members
            }
            var coverage: Double { members == 0 ? 0 : coverageSum / Double(members) }
        }
        func fill(_ r: inout TotalsRecord, _ q: Rollup) {
            r.flowSeconds = Double(q.flowUS) / 1e6
            r.coverage = q.coverage
            r.samples = q.samples
            r.estimated = q.estimated
        }
        // One asset's figures as a roll-up of one.
        func member(_ id: String) -> Rollup {
            let f = figs[id] ?? Figures()
            var q = Rollup()
            q.add(f, coverage: coverage(f.gas))
            return q
        }
        // A record with the volume fields of its scope.
        func make(_ scope: TotalsRecord.Scope, _ id: String, _ q: Rollup) -> TotalsRecord {
            var r = record(scope, id)
            switch scope {
            case .well, .block, .field, .unregistered:
                r.gasM3 = q.gas
                r.waterM3 = q.water
            case .meter:
                r.utilisedM3 = q.gas
            case .sector:
                r.utilisedM3 = q.gas
                r.coalT = q.gas * factors.coalKgcePerM3 / 1000
                r.co2eT = q.gas * factors.co2eKgPerM3 / 1000
            case .flare:
                r.flaredM3 = q.gas
            case .all:
                break
            }
            fill(&r, q)
            return r
        }
        // Production: wells, blocks, fields.
        var blockSums: [String: Rollup] = [:]
        for (block, wells) in hierarchy.wellsByBlock {
            var sum = Rollup()
            for id in wells {
                let q = member(id)
                out.append(make(.well, id, q))
                sum.add(q)
            }
            out.append(make(.block, block, sum))
            blockSums[block] = sum
        }
        var production = Rollup()
        for (field, blocks) in hierarchy.blocksByField {
            var sum = Rollup()
            for b in blocks { sum.add(blockSums[b] ?? Rollup()) }
            out.append(make(.field, field, sum))
            production.add(sum)
        }
        // Utilisation: meters, sectors.
        var utilisation = Rollup()
        for (sector, meters) in hierarchy.metersBySector {
            var sum = Rollup()
            for id in meters {
                let q = member(id)
                out.append(make(.meter, id, q))
                sum.add(q)
            }
            out.append(make(.sector, sector, sum))
            utilisation.add(sum)
        }
        // Losses: flares.
        var flared = Rollup()
        for id in hierarchy.flares {
            let q = member(id)
            out.append(make(.flare, id, q))
            flared.add(q)
        }
        // Unregistered assets: on their own.
        for id in unregistered.sorted() { out.append(make(.unregistered, id, member(id))) }
        // The whole field.
        var all = record(.all, "all")
        all.gasM3 = production.gas
        all.waterM3 = production.water
        all.utilisedM3 = utilisation.gas
        all.flaredM3 = flared.gas
        all.hasUtilisationRate = true
        all.utilisationRate = production.gas > 0 ? utilisation.gas / production.gas : nil
        all.coalT = utilisation.gas * factors.coalKgcePerM3 / 1000
        all.co2eT = utilisation.gas * factors.co2eKgPerM3 / 1000
        var everything = production
        everything.add(utilisation)
        fill(&all, everything)
        all.flowSeconds = Double(production.flowUS) / 1e6
        all.samples = production.samples + utilisation.samples + flared.samples
        all.estimated = everything.estimated || flared.estimated
        out.append(all)
        return out
    }
}
