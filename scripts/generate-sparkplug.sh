#!/usr/bin/env bash
# Regenerates Sources/CBMCore/Sparkplug/SparkplugB.pb.swift from Protos/sparkplug_b.proto with
# protoc (Debian: protobuf-compiler) and protoc-gen-swift, built here from the swift-protobuf
# checkout the package resolved (a few minutes; not part of the build or of CI).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc is missing (apt-get install protobuf-compiler)" >&2; exit 1; }
swift package resolve >/dev/null
checkout=.build/checkouts/swift-protobuf
(cd "$checkout" && swift build -c release --product protoc-gen-swift >/dev/null)
protoc --plugin=protoc-gen-swift="$checkout/.build/release/protoc-gen-swift" \
  --swift_out=Sources/CBMCore/Sparkplug -I Protos Protos/sparkplug_b.proto
mv Sources/CBMCore/Sparkplug/sparkplug_b.pb.swift Sources/CBMCore/Sparkplug/SparkplugB.pb.swift
echo "wrote Sources/CBMCore/Sparkplug/SparkplugB.pb.swift"
