# raftdrill — `make run` starts the daemon on the embedded sandbox cluster,
# `make test` installs what the tests need and runs them all.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
# raftdrill_build_info and `raftdrill version` read prometheus/common/version.
VERSIONPKG := github.com/prometheus/common/version
LDFLAGS   := -s -w -X $(VERSIONPKG).Version=$(VERSION) -X $(VERSIONPKG).Revision=$(COMMIT) -X $(VERSIONPKG).Branch=$(BRANCH)
BIN       := bin/raftdrill
APT_GET   := DEBIAN_FRONTEND=noninteractive apt-get
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test test-go lint rules deps docs bench bench-accuracy bench-alerts bench-compare bench-crash bench-restore check-static clean dashboards

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

## run: the daemon on 127.0.0.1:9479, drilling the embedded sandbox cluster
## every 2 minutes (the default schedule is every 15; CONFIG=file to use yours)
RUN_SCHEDULE ?= @every 2m
run: build
	$(if $(CONFIG),,RAFTDRILL_DRILLS_LEADER_FAILOVER_SCHEDULE='$(RUN_SCHEDULE)') $(BIN) serve $(if $(CONFIG),--config $(CONFIG))

## deps: what the tests need that Go does not fetch (Debian packages)
deps:
	@missing=""; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) $(APT_GET) update -qq && $(SUDO) $(APT_GET) install -y -qq --no-install-recommends $$(echo $$missing | tr ' ' '\n' | sort -u); \
	fi

## dashboards: regenerate the Grafana dashboard JSON from its Go code
## (dashboards/*.go); a test fails when the committed JSON differs
dashboards:
	$(GO) run ./dashboards/gen -dir dashboards/grafana

## test: every test, nothing skipped
test: deps lint rules test-go check-static

## lint: gofmt, go vet, go.mod tidy, staticcheck (pinned in go.mod as a tool)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(GO) tool staticcheck ./...

## docs: regenerate the dependency picture in docs/architecture.md
docs:
	$(GO) run ./tools/depgraph -write

## rules: the Prometheus alert rules are valid and pass their unit tests
rules: deps
	promtool check rules alerts/prometheus-rules.yml
	promtool test rules alerts/prometheus-rules.test.yml

test-go:
	REQUIRE_TEST_TOOLS=1 $(GO) test -race -count=1 -timeout 25m ./...

## bench: every benchmark that carries a speed or accuracy goal, once each
## (election accuracy, checker on 1M messages, quorum loss → Slack, load)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

## bench-accuracy: measured election time vs the sandbox's ground truth over 20 drills
bench-accuracy:
	$(GO) test -run '^$$' -bench BenchmarkElectionAccuracy -benchtime 1x ./probes

## bench-alerts: kill a majority of sandbox nodes, time the quorum-lost Slack
## message at default settings (goal: median under 12 s; about 75 s to run)
bench-alerts:
	$(GO) test -run '^$$' -bench BenchmarkQuorumLossToSlack -benchtime 1x ./alerts

## bench-compare: the benchmark probe against sarama's kafka-producer-performance
## and kcat on a `raftdrill sandbox` process, same workload (goal: ratio >= 1.0;
## docs/benchmark.md). MESSAGES=100000 ROUNDS=15 by default
bench-compare: build
	@command -v kcat >/dev/null 2>&1 || { $(SUDO) $(APT_GET) update -qq && $(SUDO) $(APT_GET) install -y -qq --no-install-recommends kcat; }
	$(GO) build -o bin/kafka-producer-performance github.com/IBM/sarama/tools/kafka-producer-performance
	$(GO) run ./tools/benchcompare -raftdrill $(BIN) -sarama-perf bin/kafka-producer-performance \
		-messages $(or $(MESSAGES),100000) -rounds $(or $(ROUNDS),15)

## bench-crash: the daemon's chaos test at full length: `raftdrill serve`
## drilling a separate sandbox is SIGKILLed 50 times at random moments of a
## drill and started again; prints the median and max time from restart to
## every node serving, nodes left down, run ids lost (make test runs 4 cases)
CRASH_CASES ?= 50
bench-crash:
	$(GO) test -count=1 -timeout 60m -run '^TestCrashChaos$$' -v . -args -crash.cases=$(CRASH_CASES)

## bench-restore: a restart command that fails for 2 minutes, then works,
## at the default restore backoff (cap 30 s): the node must come back with no
## human, node-not-restored fire once and resolve once (make test: 4 s, 1 s cap)
bench-restore:
	TEST_RESTART_FAILS_FOR=2m TEST_RESTORE_BACKOFF_MAX=30s \
		$(GO) test -count=1 -timeout 10m -run '^TestNodeComesBackAfterARestartFailingForAWhile$$' -v ./daemon

## check-static: the binary the Dockerfile ships is static and runs as nonroot (uid 65532)
## (examples/container.yaml names a token file where the image mounts one:
## a stand-in is made for the check)
check-static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/raftdrill-static .
	@if ldd bin/raftdrill-static >/dev/null 2>&1; then echo "bin/raftdrill-static is dynamically linked"; exit 1; fi
	$(SUDO) setpriv --reuid=65532 --regid=65532 --clear-groups bin/raftdrill-static version
	@mkdir -p bin && echo stand-in-token > bin/check-static-token && chmod 644 bin/check-static-token
	$(SUDO) setpriv --reuid=65532 --regid=65532 --clear-groups env RAFTDRILL_SERVER_AUTH_TOKEN_FILE=$(CURDIR)/bin/check-static-token \
		bin/raftdrill-static config check --config examples/container.yaml

clean:
	rm -rf bin artifacts
