package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/local/smlocal"
	"github.com/vip-messages/api/internal/testkit/contract"
)

// lambdaDeadline is the time an invocation gets, as Lambda's context deadline:
// the function's timeout in template.yaml.
const lambdaDeadline = 10 * time.Second

// TestDynamoDBOutageMidWalk stops the real DynamoDB Local while a walk is in
// progress, then starts it again on the same port and data (-dbPath). While it
// is down, every request answers a JSON 503 with Retry-After before the
// Lambda deadline, never a 500 or a hang; after the restart, the walk goes on
// from its last nextCursor and returns every message exactly once.
func TestDynamoDBOutageMidWalk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := ddblocal.Start(ctx, ddblocal.Options{DBPath: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	// A small stack by hand (devstack seeds thousands of messages, slow on a
	// file-backed DynamoDB Local): the demo key, workspace and channel.
	const table = "fault"
	ddb := ddblocal.NewClient(srv.Endpoint)
	if err := ddblocal.CreateTable(ctx, ddb, table); err != nil {
		t.Fatal(err)
	}
	if err := seed.NewWriter(ddb, table).Write(ctx, seed.Dataset{
		Workspaces: []seed.Workspace{{ID: seed.DemoWorkspace, Name: "w", VIP: true}},
		Channels:   []seed.Channel{{WorkspaceID: seed.DemoWorkspace, MediumID: seed.DemoChannel, Name: "c", Connected: true}},
		Messages: []seed.ChannelMessages{{WorkspaceID: seed.DemoWorkspace, MediumID: seed.DemoChannel,
			Messages: seed.Generate(rand.New(rand.NewPCG(8, 8)), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), anchor, 80)}},
	}); err != nil {
		t.Fatal(err)
	}
	sm, err := smlocal.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sm.Close() })
	if err := smlocal.PutKey(ctx, smlocal.NewClient(sm.URL), devstack.SecretPrefix, devstack.DemoKeyID, auth.SecretValue{
		Secrets: []string{devstack.DemoSecret}, WorkspaceIDs: []string{seed.DemoWorkspace},
	}); err != nil {
		t.Fatal(err)
	}
	stack := devstack.Stack{DynamoEndpoint: srv.Endpoint, SecretsEndpoint: sm.URL, Table: table, SecretPrefix: devstack.SecretPrefix}
	var logs bytes.Buffer
	h := app.NewWithClients(stack.Config(), ddb, smlocal.NewClient(sm.URL), slog.New(slog.NewJSONHandler(&logs, nil)))

	q := window(map[string]string{"limit": "7"})
	invoke := func() (events.APIGatewayProxyResponse, time.Duration) {
		t.Helper()
		ev := request(q)
		cctx, cancel := context.WithTimeout(ctx, lambdaDeadline)
		defer cancel()
		start := time.Now()
		resp, err := h.Handle(cctx, ev)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		contract.CheckEvent(t, ev, resp)
		return resp, took
	}
	page := func(resp events.APIGatewayProxyResponse) api.ListResponse {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		var p api.ListResponse
		if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func(it api.Item) string { return it.Date + " " + it.ConversationID + " " + it.Text }

	// The whole walk, undisturbed: what the faulted walk must return.
	var want []string
	for {
		resp, _ := invoke()
		p := page(resp)
		for _, it := range p.Items {
			want = append(want, key(it))
		}
		if !p.MayHaveMore {
			break
		}
		q["before"] = p.NextCursor
	}
	if len(want) < 40 {
		t.Fatalf("the demo channel holds %d messages in the window: too few to walk", len(want))
	}
	delete(q, "before")

	// Two pages, then DynamoDB Local goes away.
	var got []string
	for range 2 {
		resp, _ := invoke()
		p := page(resp)
		for _, it := range p.Items {
			got = append(got, key(it))
		}
		q["before"] = p.NextCursor
	}
	srv.Stop()
	for i := range 3 {
		resp, took := invoke()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Headers["Retry-After"] == "" {
			t.Fatalf("request %d while DynamoDB is down: %d %v %s", i, resp.StatusCode, resp.Headers, resp.Body)
		}
		var body struct{ Message string }
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Message == "" {
			t.Fatalf("503 body %q is not a JSON message", resp.Body)
		}
		if took >= lambdaDeadline {
			t.Fatalf("the 503 took %s, past the Lambda deadline of %s", took, lambdaDeadline)
		}
		t.Logf("request %d while DynamoDB is down: 503 in %s", i, took.Round(time.Millisecond))
	}

	// Back, on the same port and data: the walk continues from its cursor.
	srv, err = ddblocal.Start(ctx, ddblocal.Options{Port: srv.Port, DBPath: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatal("the walk does not end")
		}
		resp, _ := invoke()
		p := page(resp)
		for _, it := range p.Items {
			got = append(got, key(it))
		}
		if !p.MayHaveMore {
			break
		}
		q["before"] = p.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the faulted walk returned %d items, the undisturbed one %d (first difference at %d)", len(got), len(want), firstDifference(got, want))
	}
	if bytes.Contains(logs.Bytes(), []byte(`"status":500`)) {
		t.Fatal("a request answered 500")
	}
}

func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
