package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
)

// offline is an AWS HTTP client that sends nothing and counts what it was asked to send.
type offline struct{ requests atomic.Int32 }

func (o *offline) Do(*http.Request) (*http.Response, error) {
	o.requests.Add(1)
	return nil, errors.New("offline: this test sends nothing")
}

// awsAccount makes the process look like an operator's shell against an AWS
// account: a region and credentials, and no endpoint override.
func awsAccount(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// vipctlVia runs vipctl with its AWS calls going to client.
func vipctlVia(client aws.HTTPClient, getenv func(string) string, args ...string) result {
	var out, errOut bytes.Buffer
	e := newEnv(&out, &errOut, getenv)
	e.awsConfig = func(ctx context.Context) (aws.Config, error) {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryMaxAttempts(1), config.WithLogger(logging.Nop{}))
		cfg.HTTPClient = client
		return cfg, err
	}
	code := e.main(context.Background(), args)
	return result{code, out.String(), errOut.String()}
}

// awsArgs are the arguments of every leaf command that touches a table or a
// secret; nil marks one that touches neither (it calls the API). A new command
// must be added here, so that it cannot skip the guard unnoticed.
var awsArgs = map[string][]string{
	"keys create":             {"--workspace", "ws-demo"},
	"keys list":               {},
	"keys restore":            {"demo-key-0001"},
	"keys rotate":             {"demo-key-0001"},
	"keys retire-previous":    {"demo-key-0001"},
	"keys revoke":             {"demo-key-0001"},
	"keys set-tier":           nil, // API Gateway only (edge_test.go)
	"keys show":               {"demo-key-0001"},
	"keys set-workspaces":     {"--workspace", "ws-demo", "demo-key-0001"},
	"workspaces put":          {"--vip", "ws-a"},
	"workspaces list":         {},
	"channels list":           {"ws-a"},
	"channels connect":        {"ws-a", "ch-a"},
	"channels disconnect":     {"ws-a", "ch-a"},
	"index rebuild":           {"--all"},
	"index rebuild --channel": {"--workspace", "ws-a", "--medium", "ch-a"},
	"index verify":            {"--workspace", "ws-a", "--medium", "ch-a", "--from", "2026-06-01", "--to", "2026-06-02"},
	"index replay-dlq":        {"--queue-url", "https://sqs.eu-west-1.amazonaws.com/123456789012/q"},
	"labels":                  nil,
	"messages list":           nil,
	"sign":                    nil,
	"sign-event":              nil,
}

func leaves(prefix string, cs []*command) []string {
	var out []string
	for _, c := range cs {
		p := strings.TrimSpace(prefix + " " + c.name)
		if c.run != nil {
			out = append(out, p)
		}
		out = append(out, leaves(p, c.subs)...)
	}
	return out
}

// TestLocalNamesRefusedAgainstAWS: against an AWS account (no endpoint
// override), every command that touches a table or a secret refuses the local
// stack's table and prefix, whether defaulted or named, before it sends
// anything; with a stage's names the same commands do send.
func TestLocalNamesRefusedAgainstAWS(t *testing.T) {
	for _, leaf := range leaves("", commands) {
		if _, ok := awsArgs[leaf]; !ok {
			t.Errorf("command %q is not in awsArgs: say whether it touches a table or a secret", leaf)
		}
	}
	awsAccount(t)
	localByName := func(k string) string {
		return map[string]string{envTable: defaultTable, envSecretPrefix: defaultSecretPrefix + "/"}[k]
	}
	stage := func(k string) string {
		return map[string]string{envTable: "vip-messages-dev", envSecretPrefix: "vip-api/dev/api-keys", envStage: "dev"}[k]
	}
	for name, args := range awsArgs {
		if args == nil {
			continue
		}
		cmd := strings.Fields(strings.Split(name, " --")[0])
		t.Run(name, func(t *testing.T) {
			for _, env := range []struct {
				name   string
				getenv func(string) string
			}{{"default", noEnv}, {"named", localByName}} {
				var rec offline
				r := vipctlVia(&rec, env.getenv, append(cmd, args...)...)
				if r.code != exitUsage || !strings.Contains(r.stderr, "is the local stack's") || rec.requests.Load() != 0 {
					t.Errorf("%s local name: want exit 2, the guard's message and no request; %d requests\n%s", env.name, rec.requests.Load(), r)
				}
			}
			var rec offline
			r := vipctlVia(&rec, stage, append(cmd, args...)...)
			if r.code != exitError || rec.requests.Load() == 0 || strings.Contains(r.stderr, "local stack's") {
				t.Errorf("stage names: want exit 1 after a request; %d requests\n%s", rec.requests.Load(), r)
			}
		})
	}
}

// TestStageNames: a command that names a stage uses that stage's table and
// secret prefix, as template.yaml names them, unless --table/--prefix or their
// variables name others; without a stage, the local stack's.
func TestStageNames(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TableName: !Sub " + tableTarget.stageName, `!Sub "` + prefixTarget.stageName + `"`, "QueueName: !Sub " + dlqStageName} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("template.yaml lacks %q: vipctl would derive another name than the stack's", want)
		}
	}
	// Through the commands: --stage alone passes the guard against an AWS account.
	awsAccount(t)
	for _, args := range [][]string{
		{"keys", "create", "--workspace", "ws-demo", "--stage", "dev"},
		{"keys", "revoke", "--stage", "dev", "demo-key-0001"},
		{"keys", "rotate", "--stage", "dev", "demo-key-0001"},
		{"keys", "retire-previous", "--stage", "dev", "demo-key-0001"},
		{"keys", "restore", "--stage", "dev", "demo-key-0001"},
		{"keys", "show", "--stage", "dev", "demo-key-0001"},
		{"keys", "set-workspaces", "--stage", "dev", "--workspace", "ws-demo", "demo-key-0001"},
		{"keys", "list", "--stage", "dev"},
		{"index", "rebuild", "--all", "--stage", "dev"},
		{"index", "replay-dlq", "--stage", "dev"},
		{"workspaces", "list", "--stage", "dev"},
	} {
		var rec offline
		if r := vipctlVia(&rec, noEnv, args...); r.code != exitError || rec.requests.Load() == 0 {
			t.Errorf("%v: want exit 1 after a request; %d requests\n%s", args, rec.requests.Load(), r)
		}
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		table string
	}{
		{"no stage", nil, nil, defaultTable},
		{"--stage", []string{"--stage", "prod"}, nil, "vip-messages-prod"},
		{"$VIP_STAGE", nil, map[string]string{envStage: "staging"}, "vip-messages-staging"},
		{"--table wins", []string{"--stage", "prod", "--table", "t1"}, nil, "t1"},
		{"$VIP_TABLE wins", []string{"--stage", "prod"}, map[string]string{envTable: "t2"}, "t2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(io.Discard, io.Discard, func(k string) string { return tc.env[k] })
			f := newFlags("vipctl test", "")
			tb := tableFlag(f, e)
			var kf keyFlags
			kf.register(f, e)
			if _, err := f.parse(e, tc.args, 0, 0); err != nil {
				t.Fatal(err)
			}
			tableTarget.forStage(f, e, &tb.name, tb.stage)
			prefixTarget.forStage(f, e, &kf.prefix, tb.stage)
			if tb.name != tc.table {
				t.Errorf("table %q, want %q", tb.name, tc.table)
			}
			wantPrefix := defaultSecretPrefix
			if tb.stage != "" {
				wantPrefix = "vip-api/" + tb.stage + "/api-keys"
			}
			if kf.prefix != wantPrefix {
				t.Errorf("prefix %q, want %q", kf.prefix, wantPrefix)
			}
		})
	}
}
