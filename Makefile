# Berth — build, test, demo, bench.  Run as root on Debian 12.
SHELL       := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO          ?= go
BIN         := $(CURDIR)/bin
PREFIX      ?= /usr/local
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X github.com/berth-containers/berth/internal/version.Version=$(VERSION)
# berth-runtime carries a small C stage (namespace entry before the Go runtime starts):
# it is built with cgo and linked statically, so it starts fast and needs no shared libs.
RUNTIME_FLAGS := -trimpath -tags osusergo,netgo -ldflags '$(LDFLAGS) -extldflags "-static"'
GO_FLAGS      := -trimpath -ldflags '$(LDFLAGS)'
# Binaries whose main package exists are built; the list grows with the tree.
DAEMON_CMDS := $(notdir $(patsubst %/main.go,%,$(wildcard cmd/berth/main.go cmd/berthd/main.go cmd/berth-shim/main.go cmd/berth-init/main.go)))
TEST_TIMEOUT ?= 45m

.PHONY: all build deps test unit integration conformance-oci demo bench install clean fuzz proto

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=1 $(GO) build $(RUNTIME_FLAGS) -o $(BIN)/berth-runtime ./cmd/berth-runtime
	@for c in $(DAEMON_CMDS); do echo "go build $$c"; CGO_ENABLED=0 $(GO) build $(GO_FLAGS) -o $(BIN)/$$c ./cmd/$$c || exit 1; done

deps:
	@hack/deps.sh

# Everything: unit tests, root integration tests (real kernel, real registry, peers from
# Debian's packages) and the OCI runtime conformance run.
test: deps build
	BERTH_BIN=$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) conformance-oci

unit:
	$(GO) test -count=1 -short ./...

integration: build
	BERTH_BIN=$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./test/...

conformance-oci: build
	BERTH_BIN=$(BIN) test/conformance/oci/run.sh

demo: deps build
	BERTH_BIN=$(BIN) hack/demo.sh

bench: deps build
	BERTH_BIN=$(BIN) bench/run.sh

fuzz:
	hack/fuzz.sh

# Regenerate the berth API's Go code from api/berth/v1/*.proto (checked in).
proto:
	api/gen.sh

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/* $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf $(BIN)
