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
// or the secret prefix of the keys. Its default is the local stack's name.
type target struct {
	what        string // "table", "secret prefix"
	flag, env   string // --flag and $ENV that set it
	local       string // the local stack's name, the default
	example     string // a stage's name, for the message
	endpointEnv string // the SDK's endpoint override of the service
}

var (
	tableTarget = target{what: "table", flag: "table", env: envTable, local: defaultTable,
		example: "vip-messages-dev", endpointEnv: "AWS_ENDPOINT_URL_DYNAMODB"}
	prefixTarget = target{what: "secret prefix", flag: "prefix", env: envSecretPrefix, local: defaultSecretPrefix,
		example: "vip-api/dev/api-keys", endpointEnv: "AWS_ENDPOINT_URL_SECRETS_MANAGER"}
)

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
		t.what, t.local, t.flag, t.env, t.example, t.endpointEnv)
}

// register adds the target's flag to f, defaulting to its variable, else the
// local name.
func (t target) register(f *flags, e *env, p *string) {
	f.StringVar(p, t.flag, e.envOr(t.env, t.local), t.usage())
}

func (t target) usage() string {
	return t.what + " ($" + t.env + "); the local stack's, the default, is refused against AWS"
}

// table is a command's --table.
type table struct {
	f    *flags
	name string
}

func tableFlag(f *flags, e *env) *table {
	t := &table{f: f}
	tableTarget.register(f, e, &t.name)
	return t
}

// open returns a DynamoDB client for the table, once the guard passed.
func (t *table) open(ctx context.Context, e *env) (*dynamodb.Client, error) {
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
