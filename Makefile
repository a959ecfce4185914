# cbm-ingest: make demo | make test | make build
.PHONY: all deps build test fuzz demo clean install uninstall bench bench-decode bench-aggregate bench-output bench-archive bench-report

PREFIX ?= /usr/local
# Seconds each fuzz target runs: briefly in make test, longer in make fuzz.
TEST_FUZZ_SECONDS ?= 20
FUZZ_SECONDS ?= 600
SYSCONFDIR ?= /etc
UNITDIR ?= /etc/systemd/system

all: build

deps:
	@scripts/install-deps.sh

build: deps
	swift build

# The whole test suite: unit tests, integration tests against a real mosquitto, and a short run of
# every fuzz target (libFuzzer).
test: deps
	swift build --build-tests
	swift test --skip-build
	scripts/fuzz.sh $(TEST_FUZZ_SECONDS)

# The fuzz targets, each for FUZZ_SECONDS; what crashes one is kept in Tests/Fuzz/regressions/.
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# FORMAT=sparkplug_b: the simulated wells speak Sparkplug B.
FORMAT ?= json
demo: build
	@FORMAT=$(FORMAT) scripts/demo.sh

bench-decode:
	cd Benchmarks && swift package --disable-sandbox benchmark --target DecodeBenchmarks

bench-aggregate:
	cd Benchmarks && swift package --disable-sandbox benchmark --target AggregateBenchmarks

# End-to-end figures: replay rate and memory, live rate against mosquitto_sub, memory bounds.
bench: deps
	scripts/bench.sh
	scripts/bench-archive.sh
	scripts/bench-report.sh

# A year of 1,000 wells: a month's report, from the index of final figures.
bench-report: deps
	scripts/bench-report.sh

# Late data: a backfill through the history archive against in-order replay; memory; bytes a reading.
bench-archive: deps
	scripts/bench-archive.sh

bench-output:
	cd Benchmarks && swift package --disable-sandbox benchmark --target OutputBenchmarks

# A release build, the systemd unit, the sysusers.d file of its cbm-ingest user and group, and the
# example configuration under /etc/cbm-ingest/ (an existing configuration is never overwritten).
# DESTDIR stages the files elsewhere; with no DESTDIR, systemd-sysusers creates the user and group
# now, before the unit first starts. BINARY=path installs that binary instead, with no build and
# no deps (the tests stage an install of the debug build: make install DESTDIR=… BINARY=…).
SYSUSERSDIR ?= /usr/lib/sysusers.d
BINARY ?=
install: $(if $(BINARY),,deps)
	$(if $(BINARY),,swift build -c release)
	install -D -m 0755 $(or $(BINARY),.build/release/cbm-ingest) $(DESTDIR)$(PREFIX)/bin/cbm-ingest
	install -D -m 0644 config/systemd/cbm-ingest.sysusers $(DESTDIR)$(SYSUSERSDIR)/cbm-ingest.conf
	if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null 2>&1; then systemd-sysusers $(SYSUSERSDIR)/cbm-ingest.conf; fi
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed -e 's#/usr/local/bin/cbm-ingest#$(PREFIX)/bin/cbm-ingest#' -e 's#/etc/cbm-ingest#$(SYSCONFDIR)/cbm-ingest#g' \
	  config/systemd/cbm-ingest.service > $(DESTDIR)$(UNITDIR)/cbm-ingest.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/cbm-ingest.service
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/cbm-ingest
	[ -e $(DESTDIR)$(SYSCONFDIR)/cbm-ingest/cbm-ingest.yaml ] || install -m 0644 config/cbm-ingest.yaml $(DESTDIR)$(SYSCONFDIR)/cbm-ingest/cbm-ingest.yaml
	[ -e $(DESTDIR)$(SYSCONFDIR)/cbm-ingest/assets.csv ] || install -m 0644 config/assets.csv $(DESTDIR)$(SYSCONFDIR)/cbm-ingest/assets.csv
	[ -e $(DESTDIR)$(SYSCONFDIR)/cbm-ingest/mqtt-password ] || install -m 0600 /dev/null $(DESTDIR)$(SYSCONFDIR)/cbm-ingest/mqtt-password
	if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
	@echo "installed; edit $(SYSCONFDIR)/cbm-ingest/cbm-ingest.yaml, then: systemctl enable --now cbm-ingest"

# Removes the binary, the unit and the sysusers.d file; the configuration, /var/lib/cbm-ingest and
# the cbm-ingest user and group are kept (they own the data).
uninstall:
	if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null 2>&1; then systemctl disable --now cbm-ingest 2>/dev/null || true; fi
	rm -f $(DESTDIR)$(PREFIX)/bin/cbm-ingest $(DESTDIR)$(UNITDIR)/cbm-ingest.service $(DESTDIR)$(SYSUSERSDIR)/cbm-ingest.conf
	if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi

clean:
	rm -rf .build .build-fuzz demo-out
