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

.PHONY: all build build-kubernetes run test test-go lint rules deps docs bench bench-check bench-accuracy bench-alerts bench-compare bench-crash bench-restore bench-footprint bench-splitbrain bench-soak check-static clean dashboards

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

## build-kubernetes: the binary with the kubernetes node controller and
## leader election (client-go; about 16 MB more memory), as the image has it
build-kubernetes:
	CGO_ENABLED=0 $(GO) build -tags kubernetes -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

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
	command -v kubectl >/dev/null 2>&1 || missing="$$missing kubernetes-client"; \
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
	$(GO) vet -tags kubernetes ./...
	$(GO) mod tidy -diff
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags kubernetes ./...

## docs: regenerate the dependency picture in docs/architecture.md and the
## deploy/ manifests copied from the alert rules and dashboards
docs:
	$(GO) run ./tools/depgraph -write
	$(GO) generate ./deploy

## rules: the Prometheus alert rules are valid and pass their unit tests
rules: deps
	promtool check rules alerts/prometheus-rules.yml
	promtool test rules alerts/prometheus-rules.test.yml

test-go:
	REQUIRE_TEST_TOOLS=1 $(GO) test -race -count=1 -timeout 25m -tags kubernetes ./...

## bench: the quick benchmarks once each (the checker decoding and judging
## 1M messages × 3 nodes, the sandbox's acks=all produce rate, the load
## generator); the drill-level ones have targets of their own below
## (bench-accuracy, bench-splitbrain, bench-soak, bench-alerts, bench-crash,
## bench-restore, bench-compare, bench-footprint)
bench:
	$(GO) test -run '^$$' -bench 'BenchmarkCheck1M|BenchmarkProduceAcksAll|BenchmarkProduceLoad' -benchtime 1x -timeout 30m ./...

## bench-check: the checker on 1M messages of 1 KiB read through 3 nodes,
## decode included (goal: under 1 s), five times
bench-check:
	$(GO) test -run '^$$' -bench BenchmarkCheck1M -benchtime 5x ./probes/check

## bench-accuracy: measured election time vs the sandbox's ground truth over 20 drills
bench-accuracy:
	$(GO) test -run '^$$' -bench BenchmarkElectionAccuracy -benchtime 1x ./probes

## bench-splitbrain: 20 split-brain drills in each mode on the default-timed
## sandbox; step-down and election figures against the sandbox's timeline
## (goals: no anomaly, every drill passes, |error| <= 50 ms)
bench-splitbrain:
	$(GO) test -run '^$$' -bench BenchmarkSplitBrainAccuracy -benchtime 1x -timeout 60m ./probes

## bench-soak: drills again and again on one sandbox with its defaults, tallied
## (passed, anomalies by kind; with ACKS=1, lost writes against the old
## leader's truncated Raft entries), e.g.
##   make bench-soak DRILLS=leader-failover,failure-recovery RUNS=50 SHORT=1
##   make bench-soak DRILLS=leader-failover,failure-recovery RUNS=50 SHORT=1 ACKS=1
## (ACKS applies to leader-failover, failure-recovery, whose majority-loss step
## is then off, and split-brain; RATE=msg/s sets the load through the kill,
## LINK_DELAY=5ms the sandbox's network)
##   make bench-soak DRILLS=leader-failover,failure-recovery RUNS=20 SHORT=1 PER_PROCESS=1
##   make bench-soak DRILLS=leader-failover,failure-recovery,benchmark,split-brain RUNS=20
## (SHORT cuts each drill's timings to seconds; without it every drill runs as configured by default)
bench-soak: build
	$(GO) test -v -run '^$$' -bench BenchmarkSoak -benchtime 1x -timeout 8h ./probes -args \
		-soak.drills=$(or $(DRILLS),leader-failover) -soak.runs=$(or $(RUNS),20) -soak.acks=$(or $(ACKS),all) \
		$(if $(SHORT),-soak.short) $(if $(RATE),-soak.rate=$(RATE)) $(if $(LINK_DELAY),-soak.link-delay=$(LINK_DELAY)) $(if $(PER_PROCESS),-soak.process-per-node=$(CURDIR)/$(BIN))

## bench-alerts: kill a majority of sandbox nodes, time the quorum-lost Slack
## message at default settings (goal: median under 12 s; about 75 s to run)
bench-alerts:
	$(GO) test -run '^$$' -bench BenchmarkQuorumLossToSlack -benchtime 1x ./alerts

## bench-footprint: idle RSS of `raftdrill serve` with an external cluster and
## with the embedded sandbox, and /metrics scrape latency (goals: 20 MB, 24 MB, p99 5 ms)
bench-footprint: build
	$(GO) run ./tools/footprint -raftdrill $(BIN) -rounds $(or $(ROUNDS),3)

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

## check-static: the binary both images ship (Dockerfile, stage build), built
## the same way: static, -trimpath, -tags kubernetes, the ldflags above. It
## must be static, carry those build settings and the version, and, as the
## images' user (uid 65532), accept every examples/*.yaml. An example's
## cluster.tls/cluster.sasl files live where it is deployed, so for those
## keys and server.auth_token_file config check reads stand-in files
## (RAFTDRILL_* overrides).
STATIC_BIN  := bin/raftdrill-static
STATIC_TAGS := kubernetes
check-static:
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -tags $(STATIC_TAGS) -ldflags '$(LDFLAGS)' -o $(STATIC_BIN) .
	@if ldd $(STATIC_BIN) >/dev/null 2>&1; then echo "$(STATIC_BIN) is dynamically linked"; exit 1; fi
	@info=$$($(GO) version -m $(STATIC_BIN)) && tab=$$(printf '\t') && \
	for want in "build$${tab}-trimpath=true" "build$${tab}-tags=$(STATIC_TAGS)" "build$${tab}CGO_ENABLED=0"; do \
		printf '%s\n' "$$info" | grep -qF -- "$$want" || { echo "$(STATIC_BIN): go version -m shows no $$want"; exit 1; }; \
	done
	@# The ldflags (which -trimpath leaves out of the build info) show in the version.
	$(SUDO) setpriv --reuid=65532 --regid=65532 --clear-groups $(STATIC_BIN) version \
		| grep -F 'version $(VERSION) (branch: $(BRANCH), revision: $(COMMIT))'
	@standin=$$(mktemp -d) && trap 'rm -rf "$$standin"' EXIT && chmod 0755 "$$standin" && \
	echo stand-in > "$$standin/file" && chmod 0644 "$$standin/file" && \
	for f in examples/*.yaml; do \
		image=$$(sed -n '1,/^[^#]/s/^# image: \([a-z]*\).*/\1/p' "$$f"); \
		[ -n "$$image" ] || { echo "$$f: no '# image:' line among its first comments"; exit 1; }; \
		env=""; \
		for kv in server_auth_token_file:auth_token_file cluster_tls_ca_file:ca_file cluster_tls_cert_file:cert_file \
			cluster_tls_key_file:key_file cluster_sasl_password_file:password_file; do \
			var=$${kv%%:*}; key=$${kv#*:}; \
			if grep -Eq "^[[:space:]]+$$key:" "$$f"; then \
				env="$$env RAFTDRILL_$$(echo "$$var" | tr a-z A-Z)=$$standin/file"; \
			fi; \
		done; \
		printf '%s (image: %s)%s: ' "$$f" "$$image" "$${env:+, stand-ins for$$(printf '%s' "$$env" | sed 's/=[^ ]*//g')}"; \
		$(SUDO) env $$env setpriv --reuid=65532 --regid=65532 --clear-groups $(STATIC_BIN) config check --config "$$f" || exit 1; \
	done

clean:
	rm -rf bin artifacts
