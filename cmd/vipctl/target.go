package main

import (
	"context"
	"net"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// target is the setting that names what a command touches in AWS: the table,
// or the secret prefix of the keys. Its value is --flag, else $ENV, else the
// stage's name when a command names a stage (--stage or $VIP_STAGE), else the
// local stack's name.
type target struct {
	what        string // "table", "secret prefix"
	flag, env   string // --flag and $ENV that set it
	local       string // the local stack's name
	stageName   string // a stage's name as template.yaml writes it, with ${Stage}
	endpointEnv string // the SDK's endpoint override of the service
}

var (
	tableTarget = target{what: "table", flag: "table", env: envTable, local: defaultTable,
		stageName: "vip-messages-${Stage}", endpointEnv: "AWS_ENDPOINT_URL_DYNAMODB"}
	prefixTarget = target{what: "secret prefix", flag: "prefix", env: envSecretPrefix, local: defaultSecretPrefix,
		stageName: "vip-api/${Stage}/api-keys", endpointEnv: "AWS_ENDPOINT_URL_SECRETS_MANAGER"}
)

// ofStage is the target's name in a stage deployed with the template's defaults.
func (t target) ofStage(stage string) string { return nameInStage(t.stageName, stage) }

// nameInStage is a name as template.yaml writes it, with ${Stage}, in stage.
func nameInStage(name, stage string) string { return strings.ReplaceAll(name, "${Stage}", stage) }

// forStage sets *p to the stage's name, after parsing, unless --flag or $ENV
// named it or no stage is named.
func (t target) forStage(f *flags, e *env, p *string, stage string) {
	if stage = strings.TrimSpace(stage); stage != "" && !f.isSet(t.flag) && strings.TrimSpace(e.getenv(t.env)) == "" {
		*p = t.ofStage(stage)
	}
}

// guard is the one check every command that touches a table or a secret runs
// before its first call: the local stack's name is refused when the client
// goes to AWS itself (no endpoint override resolved, from the environment or
// the shared config). No stage has that name (stages are dev, staging, prod),
// so the command could only fail, or, for a write or index rebuild's sweep,
// create things no stage reads. endpoint is the client's resolved
// BaseEndpoint: nil means the service's own endpoint.
func (t target) guard(f *flags, value string, endpoint *string) error {
	if endpoint != nil || strings.TrimSuffix(value, "/") != t.local {
		return nil
	}
	return f.usageErr("%s %s is the local stack's, and no endpoint override points at the local stack: "+
		"against an AWS account name the stage's (--%s or $%s, e.g. %s); for the local stack set %s",
		t.what, t.local, t.flag, t.env, t.ofStage("dev"), t.endpointEnv)
}

// register adds the target's flag to f, defaulting to its variable, else the
// local name.
func (t target) register(f *flags, e *env, p *string) {
	f.StringVar(p, t.flag, e.envOr(t.env, t.local), t.usage())
}

func (t target) usage() string {
	return t.what + " ($" + t.env + "; default: --stage's, " + t.stageName + ", else the local stack's, which is refused against AWS)"
}

// table is a command's --table, and the --stage it defaults to.
type table struct {
	f           *flags
	name, stage string
}

func tableFlag(f *flags, e *env) *table {
	t := &table{f: f}
	tableTarget.register(f, e, &t.name)
	f.StringVar(&t.stage, "stage", e.getenv(envStage), "deployed stage (dev, staging, prod) whose table to use unless --table or $"+envTable+" names one ($"+envStage+")")
	return t
}

// open returns a DynamoDB client for the table, once the guard passed.
func (t *table) open(ctx context.Context, e *env) (*dynamodb.Client, error) {
	tableTarget.forStage(t.f, e, &t.name, t.stage)
	cfg, err := e.aws(ctx)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	if err := tableTarget.guard(t.f, t.name, db.Options().BaseEndpoint); err != nil {
		return nil, err
	}
	return db, nil
}

// openSecrets returns a Secrets Manager client for keys under prefix, once the
// guard passed, and whether it targets a local endpoint.
func openSecrets(ctx context.Context, e *env, f *flags, prefix string) (*secretsmanager.Client, bool, error) {
	cfg, err := e.aws(ctx)
	if err != nil {
		return nil, false, err
	}
	sm := secretsmanager.NewFromConfig(cfg)
	endpoint := sm.Options().BaseEndpoint
	if err := prefixTarget.guard(f, prefix, endpoint); err != nil {
		return nil, false, err
	}
	return sm, endpoint != nil && isLoopback(*endpoint), nil
}

// isLoopback reports whether an endpoint URL names this machine.
func isLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
