package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/client"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/seed"
)

// window is a ten-day window of the demo channel and how many seeded messages
// it holds, counted from the seed data alone.
func window(t *testing.T) (from, to string, n int) {
	stack := local(t)
	end := stack.SeedNow.Add(-time.Hour)
	start := end.Add(-10 * 24 * time.Hour)
	for _, cm := range seed.Demo(stack.SeedNow).Messages {
		if cm.WorkspaceID != seed.DemoWorkspace || cm.MediumID != seed.DemoChannel {
			continue
		}
		for _, m := range cm.Messages {
			if m.Timestamp >= start.UnixMilli() && m.Timestamp <= end.UnixMilli() {
				n++
			}
		}
	}
	return start.Format(time.RFC3339), end.Format(time.RFC3339), n
}

func TestMessagesList(t *testing.T) {
	getenv := vars(t)
	from, to, n := window(t)
	base := []string{"messages", "list", "--workspace", seed.DemoWorkspace, "--medium", seed.DemoChannel, "--from", from, "--to", to}

	t.Run("all, JSON lines", func(t *testing.T) {
		r := mustRun(t, getenv, append(base, "--all", "--limit", "40")...)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != n || n < 100 {
			t.Fatalf("%d lines, %d seeded", len(lines), n)
		}
		last := int64(1 << 62)
		for _, l := range lines {
			var it client.Item
			if err := json.Unmarshal([]byte(l), &it); err != nil || it.Date == "" || it.Labels == nil || it.Timestamp > last {
				t.Fatalf("line %q: %v", l, err)
			}
			last = it.Timestamp
		}
		if r.stderr != "" {
			t.Errorf("stderr is not a terminal, yet: %q", r.stderr)
		}
	})

	t.Run("all, table", func(t *testing.T) {
		r := mustRun(t, getenv, append(base, "--all", "--table", "--limit", "200")...)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != n+1 || !strings.HasPrefix(lines[0], "DATE ") || !strings.Contains(lines[0], "TEXT") {
			t.Errorf("%d lines for %d items; header %q", len(lines), n, lines[0])
		}
	})

	t.Run("all, progress on a terminal", func(t *testing.T) {
		var out, errOut bytes.Buffer
		e := newEnv(&out, &errOut, getenv)
		e.stderrTTY = true
		if code := e.main(context.Background(), append(base, "--all", "--limit", "100")); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		if got := strings.Count(out.String(), "\n"); got != n {
			t.Errorf("%d items, want %d", got, n)
		}
		if s := errOut.String(); !strings.Contains(s, "\r\x1b[K1 pages, 100 items ...") || !strings.HasSuffix(s, "\r\x1b[K") {
			t.Errorf("progress %q", s)
		}
	})

	t.Run("one page, then the next", func(t *testing.T) {
		r := mustRun(t, getenv, append(base, "--limit", "5")...)
		if strings.Count(r.stdout, "\n") != 5 || !strings.HasPrefix(r.stderr, "more: --before ") {
			t.Fatalf("%s", r)
		}
		cursor := strings.Fields(r.stderr)[2]
		r2 := mustRun(t, getenv, append(base, "--limit", "5", "--before", cursor)...)
		if strings.Count(r2.stdout, "\n") != 5 || strings.Contains(r.stdout, strings.Split(r2.stdout, "\n")[0]) {
			t.Errorf("second page:\n%s", r2)
		}
	})

	t.Run("filters", func(t *testing.T) {
		r := mustRun(t, getenv, append(base, "--all", "--content-type", "attachment", "--limit", "200")...)
		for _, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
			var it client.Item
			if err := json.Unmarshal([]byte(l), &it); err != nil || it.Kind != "attachment" {
				t.Fatalf("line %q: %v", l, err)
			}
		}
	})

	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"404", []string{"--medium", seed.DemoOffChannel}, "404 Not Found: channel not found"},
		{"403", []string{"--workspace", "ws-elsewhere"}, "403 Forbidden"},
		{"422", []string{"--limit", "500", "--content-type", "video"}, "422 Unprocessable Entity"},
		{"401", []string{"--secret", "wrong"}, "401 Unauthorized: invalid credentials"},
		{"unreachable", []string{"--url", "http://127.0.0.1:1"}, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustFail(t, getenv, tc.msg, append(base, tc.args...)...)
		})
	}
}

func TestSignEvent(t *testing.T) {
	getenv := vars(t)
	local(t)
	old := "2020-01-01T00:00:00Z"
	day := time.Now().UTC().Format(time.DateOnly)
	ev := events.APIGatewayProxyRequest{
		Resource: "/vip-messages", Path: "/vip-messages", HTTPMethod: "GET",
		Headers: map[string]string{"X-Api-Key": devstack.DemoKeyID, "X-Date": old, "X-Signature": auth.Sign(devstack.DemoSecret, old)},
		QueryStringParameters: map[string]string{
			"workspaceId": seed.DemoWorkspace, "mediumId": seed.DemoChannel, "from": day, "to": day,
		},
	}
	raw, _ := json.Marshal(ev)
	file := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	handle := func(r result) int {
		t.Helper()
		var signed events.APIGatewayProxyRequest
		if err := json.Unmarshal([]byte(r.stdout), &signed); err != nil {
			t.Fatalf("%v\n%s", err, r)
		}
		if signed.Headers["X-Date"] == old {
			t.Errorf("x-date not renewed")
		}
		resp, _ := localHandler.Handle(context.Background(), signed)
		return resp.StatusCode
	}

	// The demo secret is the default; VIP_API_SECRET and --secret replace it.
	r := mustRun(t, noEnv, "sign-event", file)
	if r.stderr != "" || handle(r) != 200 {
		t.Errorf("demo secret: %s", r)
	}
	r = mustRun(t, getenv, "sign-event", "--secret", devstack.DemoSecret, file)
	if handle(r) != 200 {
		t.Errorf("--secret: %s", r)
	}
	r = mustRun(t, vars(t, envAPISecret, "another-secret"), "sign-event", file)
	if !strings.Contains(r.stderr, "not made with this secret") || handle(r) != 401 {
		t.Errorf("other secret: %s", r)
	}
	mustFail(t, noEnv, "no such file", "sign-event", filepath.Join(t.TempDir(), "missing.json"))
}
