package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/table"
	"github.com/vip-messages/api/internal/testkit/roundtrip"
)

var offChannelOnce sync.Once

// offChannelMessages are messages of the demo's disconnected channel in the
// test window, so that a 404 for it has something it could leak.
func offChannelMessages() []table.Message {
	from := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	return seed.Generate(rand.New(rand.NewPCG(7, 8)), from, from.Add(48*time.Hour), 20)
}

func seedOffChannel(t *testing.T) {
	s := demoStack(t)
	offChannelOnce.Do(func() {
		err := seed.NewWriter(s.DynamoDB(), s.Table).Write(context.Background(), seed.Dataset{
			Messages: []seed.ChannelMessages{{WorkspaceID: seed.DemoWorkspace, MediumID: seed.DemoOffChannel, Messages: offChannelMessages()}},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// coldHandler is a new instance (every cache empty) whose DynamoDB calls go
// through rec, with one attempt per call so an injected failure is final.
func coldHandler(t *testing.T, rec *roundtrip.Recorder, logs *bytes.Buffer) *api.Handler {
	s := demoStack(t)
	ddb := dynamodb.New(dynamodb.Options{
		Region: ddblocal.Region, BaseEndpoint: aws.String(rec.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		RetryMaxAttempts: 1,
	})
	return app.NewWithClients(s.Config(), ddb, s.SecretsManager(), slog.New(slog.NewJSONHandler(logs, nil)))
}

// requestLine is the request's log line.
func requestLine(t *testing.T, logs string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			return m
		}
	}
	t.Fatalf("no request line in %s", logs)
	return nil
}

// A cold request checks access and reads its page at the same time; every
// refusal or failure still answers as if they ran one after the other, and
// nothing read for a refused request reaches the response or the log.
func TestColdRequestChecksAccessWhileItQueries(t *testing.T) {
	s := demoStack(t)
	seedOffChannel(t)
	rec, err := roundtrip.NewRecorder(s.DynamoEndpoint, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Close)
	// The texts of every channel a refused request names: none may leak.
	leakable := []string{"conv-", "msg-0"} // every conversation and message id
	for _, ch := range seed.Demo(anchor).Messages {
		for _, m := range ch.Messages {
			leakable = append(leakable, m.Text)
		}
	}
	for _, m := range offChannelMessages() {
		leakable = append(leakable, m.Text)
	}

	for _, tc := range []struct {
		name      string
		query     map[string]string
		fail      []string
		status    int
		wantItems bool
	}{
		{name: "allowed", query: window(nil), status: http.StatusOK, wantItems: true},
		{name: "workspace not VIP", query: window(map[string]string{"workspaceId": seed.DemoBasicWorkspace, "mediumId": seed.DemoBasicChannel}), status: http.StatusForbidden},
		{name: "unknown channel", query: window(map[string]string{"mediumId": "ch-unknown"}), status: http.StatusNotFound},
		{name: "channel not connected", query: window(map[string]string{"mediumId": seed.DemoOffChannel}), status: http.StatusNotFound},
		{name: "unknown workspace", query: window(map[string]string{"workspaceId": "ws-unknown"}), status: http.StatusForbidden},
		{name: "access read fails", query: window(nil), fail: []string{"BatchGetItem"}, status: http.StatusServiceUnavailable},
		{name: "query fails", query: window(nil), fail: []string{"Query"}, status: http.StatusServiceUnavailable},
		{name: "query fails, workspace not VIP", query: window(map[string]string{"workspaceId": seed.DemoBasicWorkspace, "mediumId": seed.DemoBasicChannel}), fail: []string{"Query"}, status: http.StatusForbidden},
		{name: "access read fails, query fine", query: window(map[string]string{"mediumId": seed.DemoOffChannel}), fail: []string{"BatchGetItem"}, status: http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := coldHandler(t, rec, &logs)
			rec.Fail(tc.fail...)
			t.Cleanup(func() { rec.Fail() })
			rec.Reset()
			if tc.wantItems {
				// Hold every call until two are in flight at once: a handler that
				// made them one after the other never gets there and fails here,
				// however fast or slow the machine is.
				release := rec.Hold()
				go func() {
					defer release()
					deadline := time.Now().Add(10 * time.Second)
					for len(rec.Calls()) < 2 && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
				}()
			}
			resp := call(t, h, request(tc.query))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			line := requestLine(t, logs.String())
			if tc.wantItems {
				if p := decodePage(t, resp); p.Returned == 0 {
					t.Fatal("no items")
				}
				// Both calls were made, and were in flight together.
				if calls := rec.Calls(); len(calls) != 2 || roundtrip.CriticalPath(calls) != 1 {
					t.Fatalf("calls %+v: want a BatchGetItem and a Query side by side", calls)
				}
				return
			}
			if strings.Contains(resp.Body, `"items"`) {
				t.Fatalf("a refused request answered items: %s", resp.Body)
			}
			// Page metrics are written for a 200 only.
			if line["ItemsReturned"] != nil || line["ItemsRead"] != nil {
				t.Fatalf("the log of a refused request counts items: %v", line)
			}
			for _, text := range leakable {
				if strings.Contains(logs.String(), text) || strings.Contains(resp.Body, text) {
					t.Fatalf("message text leaked: %q", text)
				}
			}
		})
	}
}

// A request cancelled while both calls are in flight answers 503 with no items,
// and stops both calls.
func TestColdRequestCancelledMidway(t *testing.T) {
	s := demoStack(t)
	rec, err := roundtrip.NewRecorder(s.DynamoEndpoint, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Close)
	var logs bytes.Buffer
	h := coldHandler(t, rec, &logs)
	release := rec.Hold()
	defer release()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var status int
	var body string
	go func() {
		defer close(done)
		resp, _ := h.Handle(ctx, request(window(nil)))
		status, body = resp.StatusCode, resp.Body
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.Calls()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the two calls did not start together: %+v", rec.Calls())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not return after its context was cancelled")
	}
	if status != http.StatusServiceUnavailable || strings.Contains(body, `"items"`) {
		t.Fatalf("got %d %s", status, body)
	}
	if line := requestLine(t, logs.String()); line["ItemsReturned"] != nil || line["ItemsRead"] != nil {
		t.Fatalf("the log counts items: %v", line)
	}
}
