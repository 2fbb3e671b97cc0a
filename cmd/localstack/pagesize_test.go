package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/local/smlocal"
	"github.com/vip-messages/api/internal/table"
	"github.com/vip-messages/api/internal/testkit/testproc"
)

// lambdaMaxPayload is Lambda's limit on a synchronous response (aws-lambda-rie
// enforces it too, as Function.ResponseSizeTooLarge).
const lambdaMaxPayload = 6 * 1024 * 1024

// TestPageSizeUnderRIE: the texts a chat platform's users write decide how
// large a page is. Two channels that broke the Lambda response before the
// byte budget (a 6.0 MB and a 50 MB body at limit=200), walked page by page at
// limits 50 and 200 (and 1 for the large items) through the built function under aws-lambda-rie (make
// invoke's path): every page is a 200 JSON response under 6 MB, the size the
// function logs is the payload the runtime sent, and the walk returns every
// message exactly once.
func TestPageSizeUnderRIE(t *testing.T) {
	ctx := context.Background()
	bins := buildLambdas(t)
	bootstrap, rie := bins.API, bins.RIE

	// The two channels, written with BatchWriteItem (seed.Writer).
	day := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	channel := func(prefix string, n int, text string) []table.Message {
		out := make([]table.Message, n)
		for i := range out {
			out[i] = table.Message{MessageID: fmt.Sprintf("%s-%03d", prefix, i), Timestamp: day.Add(time.Duration(i) * time.Minute).UnixMilli(),
				ConversationID: "c-" + prefix, UserName: "u", Kind: "text", Source: "web", Text: text}
		}
		return out
	}
	// Limit 1 only where one item alone is large: walking small pages is the
	// store's and the handler's unit tests' business.
	channels := []struct {
		name   string
		msgs   []table.Message
		limits []int
	}{
		{"lt-5000", channel("lt", 200, strings.Repeat("<", 5000)), []int{50, 200}},
		{"amp-350k", channel("amp", 24, strings.Repeat("<&>", 350*1024/3)), []int{1, 50, 200}},
	}
	ddb, table := ddbtest.NewTable(t)
	ds := seed.Dataset{Workspaces: []seed.Workspace{{ID: "ws-big", Name: "w", VIP: true}}}
	for _, c := range channels {
		ds.Channels = append(ds.Channels, seed.Channel{WorkspaceID: "ws-big", MediumID: c.name, Name: c.name, Connected: true})
		ds.Messages = append(ds.Messages, seed.ChannelMessages{WorkspaceID: "ws-big", MediumID: c.name, Messages: c.msgs})
	}
	if err := seed.NewWriter(ddb, table).WithWorkers(4).Write(ctx, ds); err != nil {
		t.Fatal(err)
	}
	sm, err := smlocal.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sm.Close() })
	if err := smlocal.PutKey(ctx, smlocal.NewClient(sm.URL), devstack.SecretPrefix, devstack.DemoKeyID, auth.SecretValue{
		Secrets: []string{devstack.DemoSecret}, WorkspaceIDs: []string{"ws-big"},
	}); err != nil {
		t.Fatal(err)
	}
	stack := devstack.Stack{DynamoEndpoint: ddbtest.Endpoint(t), SecretsEndpoint: sm.URL, Table: table, SecretPrefix: devstack.SecretPrefix}

	// The function under aws-lambda-rie, its output (the request log lines) kept.
	env := os.Environ()
	for k, v := range stack.Env() {
		env = append(env, k+"="+v)
	}
	addr, logs := testproc.StartRIE(t, rie, bootstrap, env)

	// invoke sends one request as the authorizer passes it on for the demo
	// key and returns the payload the runtime sent.
	invoke := func(q map[string]string) []byte {
		t.Helper()
		ev := events.APIGatewayProxyRequest{
			HTTPMethod: http.MethodGet, Path: "/vip-messages", Resource: "/vip-messages",
			QueryStringParameters: q,
			RequestContext:        events.APIGatewayProxyRequestContext{Authorizer: auth.Key{ID: devstack.DemoKeyID, WorkspaceIDs: []string{"ws-big"}}.AuthorizerContext()},
		}
		return postRIE(t, addr, ev)
	}

	type largest struct{ payload, body, items int }
	served := 0 // pages answered 200 so far, each with its request log line
	for _, c := range channels {
		var want []int64
		for _, m := range slices.Backward(c.msgs) {
			want = append(want, m.Timestamp)
		}
		var big largest
		for _, limit := range c.limits {
			t.Run(fmt.Sprintf("%s/limit %d", c.name, limit), func(t *testing.T) {
				q := map[string]string{"workspaceId": "ws-big", "mediumId": c.name, "from": "2026-06-01", "to": "2026-06-01", "limit": strconv.Itoa(limit)}
				var got []int64
				var sizes []int
				pages := 0
				for ; ; pages++ {
					if pages > 300 {
						t.Fatal("the walk does not end")
					}
					out := invoke(q)
					if len(out) >= lambdaMaxPayload || len(out) > api.MaxResponseBytes {
						t.Fatalf("page %d: a payload of %d bytes", pages, len(out))
					}
					var resp events.APIGatewayProxyResponse
					if err := json.Unmarshal(out, &resp); err != nil {
						t.Fatalf("page %d: not a proxy response: %v", pages, err)
					}
					var p api.ListResponse
					if resp.StatusCode != http.StatusOK || resp.Headers["Content-Type"] != "application/json" || json.Unmarshal([]byte(resp.Body), &p) != nil {
						t.Fatalf("page %d: %d %v %.300s", pages, resp.StatusCode, resp.Headers, resp.Body)
					}
					for _, it := range p.Items {
						if it.Text != c.msgs[0].Text {
							t.Fatalf("page %d: an item's text came back changed (%d bytes)", pages, len(it.Text))
						}
						got = append(got, it.Timestamp)
					}
					sizes = append(sizes, len(out))
					if len(out) > big.payload {
						big = largest{payload: len(out), body: len(resp.Body), items: len(p.Items)}
					}
					if !p.MayHaveMore {
						break
					}
					q["before"] = p.NextCursor
				}
				if !slices.Equal(got, want) {
					t.Fatalf("the walk returned %d items, want %d once each, newest first", len(got), len(want))
				}
				// The size each page's log line reports is the payload the runtime
				// sent. The function's output reaches us through the emulator's
				// pipe, possibly after the response: wait for it.
				served += len(sizes)
				var logged []int
				for ; ; time.Sleep(50 * time.Millisecond) {
					if logged = loggedResponseBytes(t, logs.String()); len(logged) >= served {
						break
					}
				}
				if len(logged) != served || !slices.Equal(logged[served-len(sizes):], sizes) {
					t.Fatalf("%d request lines logged, %d pages served; last logged ResponseBytes %v, payloads %v",
						len(logged), served, logged[max(0, len(logged)-len(sizes)):], sizes)
				}
				t.Logf("%d pages, largest payload %d bytes", pages+1, slices.Max(sizes))
			})
		}
		t.Logf("%s: largest page %d bytes of payload (body %d bytes), %d items", c.name, big.payload, big.body, big.items)
	}
}

// loggedResponseBytes is the ResponseBytes of every request line of the
// function's output, in order.
func loggedResponseBytes(t *testing.T, out string) []int {
	t.Helper()
	var sizes []int
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg           string `json:"msg"`
			Status        int    `json:"status"`
			ResponseBytes int    `json:"ResponseBytes"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "request" && line.Status == http.StatusOK {
			sizes = append(sizes, line.ResponseBytes)
		}
	}
	return sizes
}
