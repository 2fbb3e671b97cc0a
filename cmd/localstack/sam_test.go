package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/repo"
	"github.com/vip-messages/api/internal/local/samenv"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/sampleevent"
	"github.com/vip-messages/api/internal/table"
)

// The sam local path without Docker: each function built as sam build builds
// it (for this machine), under the same aws-lambda-rie, with the environment
// SAM would give its container (internal/local/samenv: the template's
// variables, intrinsics blank, events/env.json over them, placeholder
// credentials), against make run's stack. Only host.docker.internal is
// mapped, as Docker would, to the stack's addresses on this machine.
func TestSAMLocalPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three binaries")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samenv.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	envFile, err := samenv.LoadEnvFile(filepath.Join(root, "events", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	if problems := tpl.Check(envFile); len(problems) > 0 {
		t.Fatalf("events/env.json sets what SAM would drop:\n%s", strings.Join(problems, "\n"))
	}

	bins := buildLambdas(t)
	api, indexer, rie := bins.API, bins.Indexer, bins.RIE

	// make run's stack (its table, prefix and demo key), seeded as of the
	// sample events' x-date so that their windows hold the demo data.
	list, err := sampleevent.Load(filepath.Join(root, "events", "list.json"))
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := sampleevent.Date(list)
	if err != nil {
		t.Fatal(err)
	}
	stack, err := devstack.Start(context.Background(), devstack.Options{
		DynamoEndpoint: ddbtest.Endpoint(t), FreePorts: true, Table: devstack.Table, SeedNow: anchor})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)
	// What Docker's host.docker.internal reaches: make run's fixed ports,
	// here the test stack's free ones.
	hostDocker := map[string]string{
		"http://host.docker.internal:" + strconv.Itoa(devstack.DynamoPort):                      stack.DynamoEndpoint,
		"http://host.docker.internal:" + strings.TrimPrefix(devstack.SecretsAddr, "127.0.0.1:"): stack.SecretsEndpoint,
	}

	t.Run("VipMessagesFunction", func(t *testing.T) {
		env := containerEnv(t, tpl, envFile, "VipMessagesFunction", hostDocker)
		addr := startRIE(t, rie, api, env)
		files, err := sampleevent.Files(filepath.Join(root, "events"))
		if err != nil || len(files) < 9 {
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
				var resp events.APIGatewayProxyResponse
				invokeRIE(t, addr, sampleevent.Resign(ev, devstack.DemoSecret, time.Now()), &resp)
				if resp.StatusCode != want {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, resp.Body)
				}
			})
		}
	})

	t.Run("LabelIndexerFunction", func(t *testing.T) {
		env := containerEnv(t, tpl, envFile, "LabelIndexerFunction", hostDocker)
		addr := startRIE(t, rie, indexer, env)
		raw, err := os.ReadFile(filepath.Join(root, "events", "stream-label-indexer.json"))
		if err != nil {
			t.Fatal(err)
		}
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
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
func containerEnv(t *testing.T, tpl *samenv.Template, f samenv.EnvFile, id string, hostDocker map[string]string) []string {
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
	if _, ok := env["AWS_ENDPOINT_URL_DYNAMODB"]; !ok {
		t.Fatalf("%s does not declare AWS_ENDPOINT_URL_DYNAMODB: SAM could not point it at DynamoDB Local", id)
	}
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// startRIE runs bootstrap under aws-lambda-rie with exactly env (a container
// has nothing else) and returns its address.
func startRIE(t *testing.T, rie, bootstrap string, env []string) string {
	t.Helper()
	port, err := ddblocal.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var logs bytes.Buffer
	rieArgs, err := rieFlags(addr)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rie, append(rieArgs, bootstrap)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("aws-lambda-rie and function output:\n%s", logs.String())
		}
	})
	if err := waitListening(context.Background(), addr, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	return addr
}

// postRIE sends event to the emulator at addr and returns the payload the
// runtime sent back; an emulator error (a function error, a payload over its
// limit) fails the test.
func postRIE(t *testing.T, addr string, event any) []byte {
	t.Helper()
	payload, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Error-Type") != "" {
		t.Fatalf("the emulator answered %s %s: %.300s", resp.Status, resp.Header.Get("Error-Type"), body)
	}
	return body
}

func invokeRIE(t *testing.T, addr string, event, out any) {
	t.Helper()
	body := postRIE(t, addr, event)
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("not a function response: %v\n%s", err, body)
	}
}

// make invoke with the sample stream event: the label indexer under
// aws-lambda-rie, against a stack of its own, applies every record.
func TestInvokeStreamEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the functions")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	bins := buildLambdas(t)
	var out bytes.Buffer
	if err := invokeCmd([]string{"-event", filepath.Join(root, "events", "stream-label-indexer.json"),
		"-bootstrap", bins.API, "-indexer-bootstrap", bins.Indexer, "-rie", bins.RIE,
		"-dynamodb-endpoint", ddbtest.Endpoint(t)}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var resp struct {
		BatchItemFailures *[]events.DynamoDBBatchItemFailure `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil || resp.BatchItemFailures == nil || len(*resp.BatchItemFailures) != 0 {
		t.Fatalf("not the indexer's answer with no failure (%v):\n%s", err, out.String())
	}
}
