# cbm-ingest: make demo | make test | make build
.PHONY: all deps build test demo clean bench-decode bench-aggregate bench-output bench-replay

all: build

deps:
	@scripts/install-deps.sh

build: deps
	swift build

# The whole test suite: unit tests and integration tests against a real mosquitto.
test: deps
	swift build --build-tests
	swift test --skip-build

demo: build
	@scripts/demo.sh

bench-decode:
	cd Benchmarks && swift package --disable-sandbox benchmark --target DecodeBenchmarks

bench-aggregate:
	cd Benchmarks && swift package --disable-sandbox benchmark --target AggregateBenchmarks

bench-replay: deps
	scripts/bench-replay.sh

bench-output:
	cd Benchmarks && swift package --disable-sandbox benchmark --target OutputBenchmarks

clean:
	rm -rf .build demo-out
