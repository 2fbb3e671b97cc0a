package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLabelsCommand: vipctl labels prints the API's JSON when stdout is not a
// terminal, a table when it is (or with --table), and sends only the window.
func TestLabelsCommand(t *testing.T) {
	const body = `{"total":1204,"labels":[{"label":"frustrated","kind":"builtin","count":37},{"label":"cl-billing","kind":"custom","count":12}]}`
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/vip-messages/labels" {
			http.NotFound(w, r)
			return
		}
		queries = append(queries, r.URL.RawQuery)
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	env := map[string]string{envAPIURL: srv.URL, envAPIKey: "demo-key-0001", envAPISecret: "s"}
	getenv := func(k string) string { return env[k] }
	args := []string{"labels", "--workspace", "ws-demo", "--medium", "ch-demo", "--from", "2026-06-01", "--to", "2026-06-30"}
	tests := []struct {
		name  string
		tty   bool
		extra []string
		want  []string // lines of stdout
	}{
		{"JSON when piped", false, nil, []string{body}},
		{"a table on a terminal", true, nil, []string{
			"LABEL           KIND     COUNT  SHARE",
			"frustrated      builtin  37     3.1%",
			"cl-billing      custom   12     1.0%",
			"(all messages)  -        1204",
		}},
		{"--table when piped", false, []string{"--table"}, []string{"LABEL           KIND     COUNT  SHARE"}},
		{"--json on a terminal", true, []string{"--json"}, []string{body}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			e := newEnv(&out, &errOut, getenv)
			e.stdoutTTY = tt.tty
			if code := e.main(context.Background(), append(args, tt.extra...)); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
			for i, w := range tt.want {
				if i >= len(lines) || strings.TrimRight(lines[i], " ") != w {
					t.Fatalf("stdout:\n%s\nwant line %d %q", out.String(), i, w)
				}
			}
		})
	}
	for _, q := range queries {
		if q != "from=2026-06-01&mediumId=ch-demo&to=2026-06-30&workspaceId=ws-demo" {
			t.Errorf("query %q", q)
		}
	}
	if r := vipctl(getenv, append(args, "--json", "--table")...); r.code != exitUsage {
		t.Errorf("--json --table: %s", r)
	}
	if r := vipctl(getenv, "labels", "--workspace", "ws-demo"); r.code != exitUsage || !strings.Contains(r.stderr, "--medium") {
		t.Errorf("missing flags: %s", r)
	}
}
