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
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/devstack/stacktest"
	"github.com/vip-messages/api/internal/local/repo"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/sampleevent"
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
		if s := errOut.String(); !strings.Contains(s, "\r\x1b[K1 page, 100 items ...\r\x1b[K2 pages, 200 items ...") || !strings.HasSuffix(s, "\r\x1b[K") {
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

	t.Run("empty window", func(t *testing.T) {
		empty := []string{"messages", "list", "--workspace", seed.DemoWorkspace, "--medium", seed.DemoChannel, "--from", "2020-01-01", "--to", "2020-01-02"}
		for _, extra := range [][]string{nil, {"--all"}, {"--table"}} {
			if r := mustRun(t, getenv, append(empty, extra...)...); strings.Contains(r.stdout, "{") || r.stderr != "" {
				t.Errorf("%v, not a terminal: %s", extra, r)
			}
			if r := onTerminal(t, getenv, append(empty, extra...)...); !strings.HasSuffix(r.stderr, "no messages in this window\n") {
				t.Errorf("%v, on a terminal: %s", extra, r)
			}
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
		{"422", []string{"--content-type", "video"}, "422 Unprocessable Entity"},
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
	// A key of its own, with the demo key's workspaces, so the samples meet
	// the same checks after the signature.
	k := createKey(t, getenv, "--workspace", seed.DemoWorkspace+","+seed.DemoBasicWorkspace)
	handle := func(file string, r result) events.APIGatewayProxyResponse {
		t.Helper()
		var signed events.APIGatewayProxyRequest
		if err := json.Unmarshal([]byte(r.stdout), &signed); err != nil {
			t.Fatalf("%s: %v\n%s", file, err, r)
		}
		if d, _ := headerValue(signed.Headers, client.HeaderDate); d == "2026-11-27T00:00:00Z" {
			t.Errorf("%s: x-date not renewed", file)
		}
		return stacktest.Invoke(t, signed)
	}
	eventsDir, err := repo.Path("events")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := sampleevent.Files(eventsDir)
	// The authorizer's samples, answered as a stage would (the local gateway's
	// mapping of the authorizer's answer).
	authz, _ := sampleevent.AuthorizerFiles(eventsDir)
	files = append(files, authz...)
	if len(files) < 5 || len(authz) < 2 {
		t.Fatalf("events: %v", files)
	}
	for _, sig := range []struct {
		name   string
		getenv func(string) string
		args   []string
		key    string
	}{
		{"defaults: the demo key", noEnv, nil, devstack.DemoKeyID},
		{"flags", noEnv, []string{"--key", k.KeyID, "--secret", k.Secret}, k.KeyID},
		{"variables", vars(t, envAPIKey, k.KeyID, envAPISecret, k.Secret), nil, k.KeyID},
		{"flags win", getenv, []string{"--key=" + k.KeyID, "-secret", k.Secret}, k.KeyID},
	} {
		for _, file := range files {
			// list*.json, labels*.json and authorizer-allow.json answer 200, [authorizer-]error-NNN-*.json answer NNN.
			want, err := sampleevent.Status(file)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(sig.name+"/"+filepath.Base(file), func(t *testing.T) {
				r := mustRun(t, sig.getenv, append(append([]string{"sign-event"}, sig.args...), file)...)
				resp := handle(file, r)
				if resp.StatusCode != want {
					t.Fatalf("answered %d, want %d: %s\n%s", resp.StatusCode, want, resp.Body, r)
				}
				note := strings.Contains(r.stderr, "an error sample, kept as it is")
				if note != (want == 401) {
					t.Errorf("note %v for a %d sample: %s", note, want, r)
				}
				if want != 401 {
					var signed events.APIGatewayProxyRequest
					_ = json.Unmarshal([]byte(r.stdout), &signed)
					if got, _ := headerValue(signed.Headers, client.HeaderKeyID); got != sig.key {
						t.Errorf("x-api-key %q, want %q", got, sig.key)
					}
				}
			})
		}
	}

	// Another secret with the demo key's signature stays a 401 only when it is wrong.
	list := filepath.Join(eventsDir, "list.json")
	r := mustRun(t, noEnv, "sign-event", "--key", k.KeyID, "--secret", k.Secret+"x", list)
	if resp := handle(list, r); resp.StatusCode != 401 {
		t.Errorf("wrong secret answered %d", resp.StatusCode)
	}
	// A signed event signs again with its own secret.
	again := filepath.Join(t.TempDir(), "again.json")
	if err := os.WriteFile(again, []byte(mustRun(t, noEnv, "sign-event", "--key", k.KeyID, "--secret", k.Secret, list).stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp := handle(again, mustRun(t, noEnv, "sign-event", "--key", k.KeyID, "--secret", k.Secret, again)); resp.StatusCode != 200 {
		t.Errorf("re-signed event answered %d", resp.StatusCode)
	}
	for _, bad := range []struct {
		getenv func(string) string
		args   []string
		msg    string
	}{
		{noEnv, []string{"--secret", "s3cret", list}, "needs its key: --key"},
		{vars(t, envAPIKey, "", envAPISecret, "s3cret"), []string{list}, "needs its key: --key"},
		{noEnv, []string{"--key", "bad key", list}, `--key "bad key" is not a key id`},
	} {
		if r := vipctl(bad.getenv, append([]string{"sign-event"}, bad.args...)...); r.code != 2 || !strings.Contains(r.stderr, bad.msg) {
			t.Errorf("sign-event %v: want exit 2 with %q\n%s", bad.args, bad.msg, r)
		}
	}
	mustFail(t, noEnv, "no such file", "sign-event", filepath.Join(t.TempDir(), "missing.json"))
}
