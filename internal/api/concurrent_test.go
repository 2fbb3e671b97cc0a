package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/clienterr"
)

// testContext ends a little before go test's own deadline, so that a handler
// that never gets where a test waits for it answers (503) instead of hanging.
func testContext(t *testing.T) context.Context {
	deadline, ok := t.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-5*time.Second))
	t.Cleanup(cancel)
	return ctx
}

// meeting lets two calls through only once both have arrived: a handler that
// made them one after the other never gets past the first.
type meeting struct {
	mu   sync.Mutex
	n    int
	both chan struct{}
}

func newMeeting() *meeting { return &meeting{both: make(chan struct{})} }

func (m *meeting) arrive(ctx context.Context) {
	m.mu.Lock()
	m.n++
	if m.n == 2 {
		close(m.both)
	}
	m.mu.Unlock()
	select {
	case <-m.both:
	case <-ctx.Done():
	}
}

// A cold request checks access and reads its page at the same time; every
// refusal or failure still answers as if they ran one after the other, and
// nothing read for a refused request reaches the response or the log.
func TestColdRequestChecksAccessWhileItQueries(t *testing.T) {
	down := fmt.Errorf("injected: %w", clienterr.ErrUnavailable)
	for _, tc := range []struct {
		name                string
		query               map[string]string
		accessFails, qFails bool
		status              int
	}{
		{name: "allowed", query: window(nil), status: http.StatusOK},
		{name: "workspace not VIP", query: window(map[string]string{"workspaceId": wsBasic, "mediumId": chBasic}), status: http.StatusForbidden},
		{name: "unknown channel", query: window(map[string]string{"mediumId": "ch-nope"}), status: http.StatusNotFound},
		{name: "channel not connected", query: window(map[string]string{"mediumId": chOff}), status: http.StatusNotFound},
		{name: "workspace not the key's", query: window(map[string]string{"workspaceId": "ws-unknown"}), status: http.StatusForbidden},
		{name: "access read fails", query: window(nil), accessFails: true, status: http.StatusServiceUnavailable},
		{name: "query fails", query: window(nil), qFails: true, status: http.StatusServiceUnavailable},
		{name: "query fails, workspace not VIP", query: window(map[string]string{"workspaceId": wsBasic, "mediumId": chBasic}), qFails: true, status: http.StatusForbidden},
		{name: "access read fails, query fine", query: window(map[string]string{"mediumId": chOff}), accessFails: true, status: http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			if tc.accessFails {
				f.access.fail = down
			}
			if tc.qFails {
				f.store.fail = down
			}
			if tc.status == http.StatusOK {
				m := newMeeting()
				f.access.reading, f.store.listing = m.arrive, m.arrive
			}
			ev := request(tc.query)
			resp, _ := f.h.Handle(testContext(t), authorized(ev))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			line := requestLine(t, f.logs.String())
			if tc.status == http.StatusOK {
				if p := decodePage(t, resp); p.Returned == 0 {
					t.Fatal("no items")
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
			for _, text := range append(secrets(), "conv-", "msg-0") {
				if strings.Contains(f.logs.String(), text) || strings.Contains(resp.Body, text) {
					t.Fatalf("message text leaked: %q", text)
				}
			}
		})
	}
}

// A request cancelled while both calls are in flight answers 503 with no
// items, and stops both calls.
func TestColdRequestCancelledMidway(t *testing.T) {
	f := newFixture()
	var started sync.WaitGroup
	started.Add(2)
	var stopped sync.WaitGroup
	stopped.Add(2)
	hold := func(ctx context.Context) {
		started.Done()
		<-ctx.Done() // only the request's end lets the call go
		stopped.Done()
	}
	f.access.reading, f.store.listing = hold, hold
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan struct{})
	var status int
	var body string
	go func() {
		defer close(done)
		resp, _ := f.h.Handle(ctx, authorized(request(window(nil))))
		status, body = resp.StatusCode, resp.Body
	}()
	started.Wait()
	cancel()
	<-done
	stopped.Wait()
	if status != http.StatusServiceUnavailable || strings.Contains(body, `"items"`) {
		t.Fatalf("got %d %s", status, body)
	}
	if line := requestLine(t, f.logs.String()); line["ItemsReturned"] != nil || line["ItemsRead"] != nil {
		t.Fatalf("the log counts items: %v", line)
	}
}
