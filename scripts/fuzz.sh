#!/usr/bin/env bash
# Fuzzing with libFuzzer (swiftc -sanitize=fuzzer,address): the readers of untrusted input, each
# for SECONDS (default 60). It starts from the seeds (FuzzTargets.seeds(), written to
# .build-fuzz/seeds.d/<target>/) and the inputs of earlier finds, Tests/Fuzz/regressions/<target>/;
# the corpus grows in .build-fuzz/corpus/<target>/ from one run to the next. An input that
# crashes a target is copied to Tests/Fuzz/regressions/<target>/ (commit it: the tests run it
# again) and the script fails.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: decode topic recording journal checkpoint sparkplug
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=${*:-decode topic recording journal checkpoint sparkplug}
build=.build-fuzz
mkdir -p "$build"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -enable-upcoming-feature ExistentialAny)

# The modules, instrumented, when their sources changed.
sources() { find "$@" -name '*.swift' | sort; }
# SwiftProtobuf (for the Sparkplug B payloads) from the package's checkout.
[ -d .build/checkouts/swift-protobuf ] || swift package resolve >/dev/null
protobuf=.build/checkouts/swift-protobuf/Sources/SwiftProtobuf
stamp=$(cat $(sources Sources/CBMCore Sources/CBMStorage Sources/CBMFuzz "$protobuf") scripts/fuzz.sh | cksum | cut -d' ' -f1)
if [ "$(cat "$build/stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "== building the fuzz targets" >&2
  swiftc -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 5 -package-name swift-protobuf -module-name SwiftProtobuf -emit-module -emit-module-path "$build/SwiftProtobuf.swiftmodule" \
    -emit-library -static -o "$build/libSwiftProtobuf.a" $(sources "$protobuf")
  swiftc "${flags[@]}" -module-name CBMCore -I "$build" -emit-module -emit-module-path "$build/CBMCore.swiftmodule" \
    -emit-library -static -o "$build/libCBMCore.a" $(sources Sources/CBMCore)
  # (The SQLite history archive and the index of final figures are left out: no target reaches them,
  # and GRDB is the package's to build.)
  swiftc "${flags[@]}" -module-name CBMStorage -I "$build" -I Sources/CZlib -emit-module -emit-module-path "$build/CBMStorage.swiftmodule" \
    -emit-library -static -o "$build/libCBMStorage.a" $(sources Sources/CBMStorage | grep -v -e '/SQLiteArchive.swift$' -e '/TotalsIndex.swift$')
  swiftc "${flags[@]}" -module-name CBMFuzz -I "$build" -I Sources/CZlib -emit-module -emit-module-path "$build/CBMFuzz.swiftmodule" \
    -emit-library -static -o "$build/libCBMFuzz.a" $(sources Sources/CBMFuzz)
  for t in decode topic recording journal checkpoint sparkplug; do
    cat > "$build/entry-$t.swift" <<SWIFT
import CBMFuzz
import Foundation
// Before it reads its corpus, the fuzzer writes its seeds where the script says.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>>>) -> CInt {
    guard let dir = ProcessInfo.processInfo.environment["FUZZ_SEEDS"] else { return 0 }
    for s in FuzzTargets.seeds() where s.target == "$t" {
        _ = FileManager.default.createFile(atPath: dir + "/" + s.name, contents: Data(s.bytes))
    }
    return 0
}
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    FuzzTargets.$t(Array(UnsafeBufferPointer(start: data, count: count)))
    return 0
}
SWIFT
    swiftc "${flags[@]}" -I "$build" -I Sources/CZlib "$build/entry-$t.swift" "$build/libCBMFuzz.a" "$build/libCBMStorage.a" \
      "$build/libCBMCore.a" "$build/libSwiftProtobuf.a" -lz -o "$build/fuzz-$t" 2>&1 | grep -v "Cannot export local symbol" >&2 || true
  done
  echo "$stamp" > "$build/stamp"
fi

status=0
for t in $targets; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  rm -rf "$artifacts" && mkdir -p "$corpus" "$artifacts" "Tests/Fuzz/regressions/$t"
  echo "== fuzzing $t for ${seconds}s" >&2
  rm -rf "$build/seeds.d/$t" && mkdir -p "$build/seeds.d/$t"
  if ! FUZZ_SEEDS="$build/seeds.d/$t" "$build/fuzz-$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" "$build/seeds.d/$t" "Tests/Fuzz/regressions/$t" > "$build/$t.log" 2>&1; then
    status=1
    for f in "$artifacts"/*; do
      [ -e "$f" ] || continue
      cp "$f" "Tests/Fuzz/regressions/$t/"
      echo "   $t: $(basename "$f") kept in Tests/Fuzz/regressions/$t/" >&2
    done
    grep -E "runtime failure|Fatal error|ERROR: AddressSanitizer| at Sources/" "$build/$t.log" | head -6 >&2 || true
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/$t.log" | sed "s/^/   $t: /" >&2 || true
done
exit $status
