package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/repo"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/sampleevent"
	"github.com/vip-messages/api/internal/table"
	"github.com/vip-messages/api/internal/testkit/testproc"
)

// The sam local path without Docker: each function built as sam build builds
// it (for this machine), under the same aws-lambda-rie, with the environment
// SAM would give its container (samenv: the template's variables, intrinsics
// blank, events/env.json over them, placeholder credentials), against make
// run's stack. Only host.docker.internal is mapped, as Docker would, to the
// stack's addresses on this machine. Every sample event of events/ goes
// through it: make invoke's path, each event answered with its status.
func TestSAMLocalPath(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := loadSAMTemplate(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	envFile, err := loadSAMEnvFile(filepath.Join(root, "events", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	if problems := tpl.Check(envFile); len(problems) > 0 {
		t.Fatalf("events/env.json sets what SAM would drop:\n%s", strings.Join(problems, "\n"))
	}

	bins := buildLambdas(t)
	api, indexer, authz, rie := bins.API, bins.Indexer, bins.Authorizer, bins.RIE
	// make run's stack: its table, prefix and demo key. The sample events'
	// statuses do not depend on where the demo data lies; make invoke seeds
	// as of their x-date (TestInvokeThroughRIE).
	stack := stack(t)
	anchor, err := sampleAnchor()
	if err != nil {
		t.Fatal(err)
	}
	// What Docker's host.docker.internal reaches: make run's fixed ports,
	// here the test stack's free ones.
	hostDocker := map[string]string{
		"http://host.docker.internal:" + strconv.Itoa(devstack.DynamoPort):                      stack.DynamoEndpoint,
		"http://host.docker.internal:" + strings.TrimPrefix(devstack.SecretsAddr, "127.0.0.1:"): stack.SecretsEndpoint,
	}

	t.Run("VipMessagesFunction", func(t *testing.T) {
		env := containerEnv(t, tpl, envFile, "VipMessagesFunction", hostDocker)
		addr, _ := testproc.StartRIE(t, rie, api, env)
		files, err := sampleevent.Files(filepath.Join(root, "events"))
		if err != nil || len(files) < 8 {
			t.Fatalf("sample events: %v %v", files, err)
		}
		for _, file := range files {
			t.Run(filepath.Base(file), func(t *testing.T) {
				ev, err := sampleevent.Load(file)
				if err != nil {
					t.Fatal(err)
				}
				want, err := sampleevent.Status(file)
				if err != nil {
					t.Fatal(err)
				}
				// As sam local invoke sends it: no re-signing, the authorizer's
				// context is in the sample.
				var resp events.APIGatewayProxyResponse
				invokeRIE(t, addr, ev, &resp)
				if resp.StatusCode != want {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, resp.Body)
				}
			})
		}
	})

	t.Run("AuthorizerFunction", func(t *testing.T) {
		env := containerEnv(t, tpl, envFile, "AuthorizerFunction", hostDocker)
		addr, _ := testproc.StartRIE(t, rie, authz, env)
		files, err := sampleevent.AuthorizerFiles(filepath.Join(root, "events"))
		if err != nil || len(files) < 2 {
			t.Fatalf("authorizer sample events: %v %v", files, err)
		}
		for _, file := range files {
			t.Run(filepath.Base(file), func(t *testing.T) {
				ev, err := sampleevent.LoadAuthorizer(file)
				if err != nil {
					t.Fatal(err)
				}
				want, err := sampleevent.Status(file)
				if err != nil {
					t.Fatal(err)
				}
				signed, _ := sampleevent.ResignAuthorizerAs(ev, []string{devstack.DemoSecret}, "", devstack.DemoSecret, time.Now())
				var resp events.APIGatewayCustomAuthorizerResponse
				invokeRIE(t, addr, signed, &resp)
				status := http.StatusOK
				if r, refused := authorizer.Refuse(resp, nil); refused {
					status = r.Status
				}
				if status != want {
					t.Fatalf("answer %+v: status %d, want %d", resp, status, want)
				}
				if want == http.StatusOK && resp.UsageIdentifierKey != devstack.DemoKeyID {
					t.Errorf("usageIdentifierKey %q, want the demo key", resp.UsageIdentifierKey)
				}
			})
		}
	})

	t.Run("LabelIndexerFunction", func(t *testing.T) {
		env := containerEnv(t, tpl, envFile, "LabelIndexerFunction", hostDocker)
		addr, _ := testproc.StartRIE(t, rie, indexer, env)
		raw, err := os.ReadFile(filepath.Join(root, "events", "stream-label-indexer.json"))
		if err != nil {
			t.Fatal(err)
		}
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		// The indexer reads each record's message as it is now.
		if err := devstack.ApplyEvent(context.Background(), stack.DynamoDB(), stack.Table, ev); err != nil {
			t.Fatal(err)
		}
		var resp events.DynamoDBEventResponse
		invokeRIE(t, addr, ev, &resp)
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch item failures %v", resp.BatchItemFailures)
		}
		// The sample inserts sam-local-1 labelled frustrated and sam-local,
		// then relabels it sam-local and escalated (custom cl-sam-local).
		store := messages.NewStore(stack.DynamoDB(), stack.Table, messages.Budget{})
		for label, want := range map[string]bool{"sam-local": true, "escalated": true, "cl-sam-local": true, "frustrated": false} {
			page, err := store.List(context.Background(), messages.Query{WorkspaceID: seed.DemoWorkspace, MediumID: seed.DemoChannel,
				From: anchor.AddDate(0, 0, -2), Until: anchor, Label: label, Limit: 200})
			if err != nil {
				t.Fatal(err)
			}
			got := slices.ContainsFunc(page.Messages, func(m table.Message) bool { return m.MessageID == "sam-local-1" })
			if got != want {
				t.Errorf("label %s: sam-local-1 indexed %v, want %v", label, got, want)
			}
		}
	})
}

// containerEnv is SAM's environment for the function, host.docker.internal
// mapped; the endpoints must be ones the mapping knows (make run's ports).
func containerEnv(t *testing.T, tpl *Template, f EnvFile, id string, hostDocker map[string]string) []string {
	t.Helper()
	env, err := tpl.Env(id, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER"} {
		v, declared := env[name]
		if !declared {
			continue
		}
		local, ok := hostDocker[v]
		if !ok {
			t.Fatalf("%s: %s=%q is not make run's endpoint as a container sees it (one of %v)", id, name, v, hostDocker)
		}
		env[name] = local
	}
	_, ddb := env["AWS_ENDPOINT_URL_DYNAMODB"]
	_, sm := env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
	if !ddb && !sm {
		t.Fatalf("%s declares neither AWS_ENDPOINT_URL_DYNAMODB nor AWS_ENDPOINT_URL_SECRETS_MANAGER: SAM could not point it at the local stack", id)
	}
	// A broken ~/.aws, which config.LoadDefaultConfig would fail on: a
	// function reads its AWS configuration from the environment alone
	// (internal/awsenv).
	home := t.TempDir()
	broken := filepath.Join(home, ".aws", "config")
	if err := os.MkdirAll(filepath.Dir(broken), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, []byte("[profile broken\ncredential_process = /bin/false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["HOME"], env["AWS_CONFIG_FILE"], env["AWS_SHARED_CREDENTIALS_FILE"], env["AWS_PROFILE"] = home, broken, broken, "broken"
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// postRIE sends event to the emulator at addr and returns the payload the
// runtime sent back; an emulator error (a function error, a payload over its
// limit) fails the test.
func postRIE(t *testing.T, addr string, event any) []byte {
	t.Helper()
	resp := testproc.InvokeRIE(t, addr, event)
	if resp.Status != http.StatusOK || resp.ErrorType != "" {
		t.Fatalf("the emulator answered %d %s: %.300s", resp.Status, resp.ErrorType, resp.Payload)
	}
	return resp.Payload
}

func invokeRIE(t *testing.T, addr string, event, out any) {
	t.Helper()
	body := postRIE(t, addr, event)
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("not a function response: %v\n%s", err, body)
	}
}

// make invoke end to end: a stack of its own seeded as of the event's x-date,
// the function under aws-lambda-rie, the event re-signed, and the emulator's
// REPORT line with its Duration, not its placeholders. The other sample
// events, the stream one included, go through the same binaries in
// TestSAMLocalPath.
func TestInvokeThroughRIE(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	bins := buildLambdas(t)
	// make invoke leaves its table in the DynamoDB Local it reuses.
	t.Cleanup(func() { deleteTables(ddblocal.NewClient(ddbtest.Endpoint(t)), "invoke-*") })
	var out, logs bytes.Buffer
	if err := invokeCmd([]string{"-event", filepath.Join(root, "events", "list.json"), "-bootstrap", bins.API, "-rie", bins.RIE,
		"-dynamodb-endpoint", ddbtest.Endpoint(t)}, &out, &logs); err != nil {
		t.Fatal(err)
	}
	if l := logs.String(); !strings.Contains(l, "INIT REPORT") || !regexp.MustCompile(`\nREPORT RequestId: \S+\tDuration: [0-9.]+ ms\t\(aws-lambda-rie's other`).MatchString(l) ||
		strings.Contains(l, "Max Memory Used") {
		t.Errorf("emulator logs:\n%s", l)
	}
	var resp struct {
		StatusCode int
		Body       string
	}
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
		t.Fatalf("not a proxy response: %v\n%s", err, out.String())
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, resp.Body)
	}
}

// make invoke sends a stream event to the label indexer, anything else to the API.
func TestIsStreamEvent(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]bool{"stream-label-indexer.json": true, "list.json": false, "authorizer-401-bad-signature.json": false, "env.json": false} {
		raw, err := os.ReadFile(filepath.Join(root, "events", file))
		if err != nil {
			t.Fatal(err)
		}
		if got := isStreamEvent(raw); got != want {
			t.Errorf("%s: isStreamEvent %v, want %v", file, got, want)
		}
	}
}

// lambdaBinaries are both functions, built as a deploy builds them but for
// this machine, and aws-lambda-rie: built once per test binary, in one go
// build (one compile graph, parallel links), for every test that runs them
// under the emulator.
type lambdaBinaries struct {
	API, Indexer, Authorizer, RIE string
}

var built struct {
	once sync.Once
	dir  string
	bins lambdaBinaries
	err  error
	out  []byte
}

func buildLambdas(t *testing.T) lambdaBinaries {
	t.Helper()
	built.once.Do(func() {
		root, err := repo.Root()
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "localstack-lambdas-"); built.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", built.dir+string(filepath.Separator),
			"./functions/vip-messages", "./functions/label-indexer", "./functions/authorizer",
			"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		built.out, built.err = cmd.CombinedOutput()
		built.bins = lambdaBinaries{
			API:        filepath.Join(built.dir, "vip-messages"),
			Indexer:    filepath.Join(built.dir, "label-indexer"),
			Authorizer: filepath.Join(built.dir, "authorizer"),
			RIE:        filepath.Join(built.dir, "aws-lambda-rie"),
		}
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.bins
}

// removeLambdas deletes what buildLambdas built; TestMain calls it.
func removeLambdas() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}
