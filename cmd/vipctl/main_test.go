package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/devstack/stacktest"
)

// One local stack per test binary (stacktest): the demo data and key, and the
// real handler behind the gateway, with caches of a nanosecond so that every
// key and workspace change shows in the next request. The AWS SDK's standard
// variables of the process point at it, as an operator's shell would (vipctl
// reads the AWS configuration through config.LoadDefaultConfig).
func TestMain(m *testing.M) {
	os.Exit(stacktest.Main(m, stacktest.CacheTTL(time.Nanosecond), stacktest.ProcessEnv()))
}

// local is the shared stack, started on first use.
func local(t *testing.T) *devstack.Stack {
	t.Helper()
	stack, _ := stacktest.API(t)
	return stack
}

// apiURL is the base URL of the API on the shared stack.
func apiURL(t *testing.T) string {
	t.Helper()
	_, url := stacktest.API(t)
	return url
}

// vars are VIP_* variables for run: the local API, its table and prefix, and
// the demo key, overridden by extra (an empty value unsets).
func vars(t *testing.T, extra ...string) func(string) string {
	stack := local(t)
	m := map[string]string{
		envAPIURL:       apiURL(t),
		envAPIKey:       devstack.DemoKeyID,
		envAPISecret:    devstack.DemoSecret,
		envTable:        stack.Table,
		envSecretPrefix: stack.SecretPrefix,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return func(k string) string { return m[k] }
}

// result is one run of vipctl.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func vipctl(getenv func(string) string, args ...string) result {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut, getenv)
	return result{code, out.String(), errOut.String()}
}

func noEnv(string) string { return "" }

func TestDefaultsAreTheLocalStacks(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{defaultAPIURL, "http://" + devstack.APIAddr},
		{defaultSecretPrefix, devstack.SecretPrefix},
		{defaultTable, devstack.Table},
		{demoSecret, devstack.DemoSecret},
	} {
		if c.got != c.want {
			t.Errorf("default %q, devstack %q", c.got, c.want)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stderr []string // substrings
		stdout []string
	}{
		{args: nil, code: 2, stderr: []string{"vipctl: missing command: channels, index, keys, labels, messages, sign, sign-event, workspaces\nRun 'vipctl -h' for usage.\n"}},
		{args: []string{"frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`, "Run 'vipctl -h' for usage."}},
		{args: []string{"-h"}, code: 0, stdout: []string{"usage: vipctl <command>", "workspaces"}},
		{args: []string{"keys"}, code: 2, stderr: []string{"vipctl keys: missing command: create, list, restore, retire-previous"}},
		{args: []string{"messages", "list", "--bogus"}, code: 2, stderr: []string{"vipctl messages list: flag provided but not defined: --bogus\nRun 'vipctl messages list -h' for usage.\n"}},
		{args: []string{"messages", "list", "-limit", "many"}, code: 2, stderr: []string{`invalid value "many" for flag --limit`}},
		{args: []string{"messages", "list", "--workspace", "ws-demo"}, code: 2, stderr: []string{"missing --medium, --from, --to"}},
		{args: []string{"messages", "list", "-h"}, code: 0, stdout: []string{"usage: vipctl messages list", "\n  --all\n", "\n  --limit int\n"}},
		{args: []string{"messages", "list", "--workspace", "w", "--medium", "m", "--from", "2026-01-01", "--to", "2026-01-02", "extra"}, code: 2, stderr: []string{"unexpected arguments: extra"}},
		{args: []string{"messages", "list", "--key", "demo-key-0001", "--secret", "s", "--workspace", "w", "--medium", "m", "--from", "2026-01-01", "--to", "2026-01-02", "--limit", "0"}, code: 2, stderr: []string{"--limit 0: want 1 to 200"}},
		{args: []string{"messages", "list", "--key", "demo-key-0001", "--secret", "s", "--workspace", "w", "--medium", "m", "--from", "2026-01-01", "--to", "2026-01-02", "--limit=201"}, code: 2, stderr: []string{"--limit 201: want 1 to 200"}},
		{args: []string{"sign"}, code: 2, stderr: []string{"missing --key (or $VIP_API_KEY), --secret (or $VIP_API_SECRET)"}},
		{args: []string{"sign", "--key", "short", "--secret", "s"}, code: 2, stderr: []string{`--key "short" is not a key id`}},
		{args: []string{"sign", "--key", "demo-key-0001", "--secret", "s", "--date", "yesterday"}, code: 2, stderr: []string{"not an RFC 3339"}},
		{args: []string{"sign-event"}, code: 2, stderr: []string{"missing arguments"}},
		{args: []string{"keys", "create"}, code: 2, stderr: []string{"missing --workspace"}},
		{args: []string{"keys", "create", "--workspace", "ws#1"}, code: 2, stderr: []string{`--workspace "ws#1"`}},
		{args: []string{"keys", "create", "--workspace", "ws-demo", "--id", "bad id"}, code: 2, stderr: []string{`--id "bad id"`}},
		{args: []string{"keys", "rotate"}, code: 2, stderr: []string{"vipctl keys rotate: missing arguments\nRun 'vipctl keys rotate -h' for usage.\n"}},
		{args: []string{"keys", "revoke", "no"}, code: 2, stderr: []string{`"no" is not a key id`}},
		{args: []string{"keys", "revoke", "--recovery-days", "3", "demo-key-0001"}, code: 2, stderr: []string{"--recovery-days 3"}},
		{args: []string{"keys", "list", "--limit", "101"}, code: 2, stderr: []string{"--limit 101: want 1 to 100"}},
		{args: []string{"keys", "list", "--all", "--next", "x"}, code: 2, stderr: []string{"--all or --next, not both"}},
		{args: []string{"workspaces", "put", "a", "b"}, code: 2, stderr: []string{"unexpected arguments: b"}},
		{args: []string{"workspaces", "put", "ws-a"}, code: 2, stderr: []string{"nothing to put: give --vip, --vip=false or --name"}},
		{args: []string{"workspaces", "list", "--limit", "0"}, code: 2, stderr: []string{"--limit 0: want 1 to 1000"}},
		{args: []string{"channels", "connect", "ws-demo"}, code: 2, stderr: []string{"missing arguments"}},
		{args: []string{"channels", "list"}, code: 2, stderr: []string{"missing arguments"}},
		{args: []string{"channels", "list", "ws-demo", "--next", "a#b"}, code: 2, stderr: []string{`--next "a#b" is not a token`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := vipctl(noEnv, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q\n%s", s, r)
				}
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q\n%s", s, r)
				}
			}
			if tc.code == 2 && (r.stdout != "" || strings.Count(r.stderr, "\n") != 2) {
				t.Errorf("usage error: want two lines on stderr, none on stdout\n%s", r)
			}
		})
	}
}

func TestSign(t *testing.T) {
	const date = "2026-06-01T12:00:00Z"
	const target = "http://localhost:3000/vip-messages?workspaceId=ws-demo&mediumId=ch-demo&from=2026-05-01&to=2026-05-31&limit=5"
	// The documented test vector (README, "Signing a request").
	const vector = "v2=feed1fe20c8aa0b1a98ea1d9c8b6cca97b91c91b8450cc6998929232a064386e"
	want := "x-api-key: demo-key-0001\nx-date: " + date + "\nx-signature: " + vector + "\n"
	wantV1 := "x-api-key: demo-key-0001\nx-date: " + date + "\nx-signature: " + auth.Sign("demo-secret-please-change", date) + "\n"
	for _, tc := range []struct {
		name   string
		getenv func(string) string
		args   []string
		want   string
	}{
		{"flags", noEnv, []string{"sign", "--key", "demo-key-0001", "--secret", "demo-secret-please-change", "--date", date, target}, want},
		{"environment", func(k string) string {
			return map[string]string{envAPIKey: "demo-key-0001", envAPISecret: "demo-secret-please-change"}[k]
		}, []string{"sign", "--date", date, target}, want},
		{"flags win", func(k string) string {
			return map[string]string{envAPIKey: "other-key-0002", envAPISecret: "other"}[k]
		}, []string{"sign", "--date", date, "--key=demo-key-0001", "--secret=demo-secret-please-change", target}, want},
		{"offset date", noEnv, []string{"sign", "-key", "demo-key-0001", "-secret", "demo-secret-please-change", "-date", "2026-06-01T14:00:00+02:00", target}, want},
		{"query in another order, on a stage URL", noEnv, []string{"sign", "--key", "demo-key-0001", "--secret", "demo-secret-please-change", "--date", date,
			"https://abc123.execute-api.us-east-1.amazonaws.com/prod/vip-messages?limit=5&to=2026-05-31&from=2026-05-01&mediumId=ch-demo&workspaceId=ws-demo"}, want},
		{"version 1 needs no URL", noEnv, []string{"sign", "--signature-version", "1", "--key", "demo-key-0001", "--secret", "demo-secret-please-change", "--date", date}, wantV1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := vipctl(tc.getenv, tc.args...)
			if r.code != 0 || r.stdout != tc.want || r.stderr != "" {
				t.Errorf("%s\nwant stdout:\n%s", r, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, msg string
		args      []string
	}{
		{"no URL", "missing URL: a version 2 signature covers the request's query", nil},
		{"another path", "does not end in /vip-messages", []string{"http://localhost:3000/messages?a=1"}},
		{"bad escape", "query: invalid URL escape", []string{"http://localhost:3000/vip-messages?a=%zz"}},
		{"version 3", "--signature-version 3: want 2 or 1", []string{"--signature-version", "3", target}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := vipctl(noEnv, append([]string{"sign", "--key", "demo-key-0001", "--secret", "s"}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("want exit 2 with %q\n%s", tc.msg, r)
			}
		})
	}
	if r := vipctl(noEnv, "sign", "--key", "demo-key-0001", "--secret", "s", "http://localhost:3000/vip-messages?from=2026-05-01T00:00:00+02:00"); r.code != 0 || !strings.Contains(r.stderr, "write %2B for a plus sign") {
		t.Errorf("a '+' in the URL: want a note\n%s", r)
	}

	// Headers made now for a URL are accepted by the real handler for that
	// URL, and for no other query.
	getenv := vars(t)
	u := apiURL(t) + "/vip-messages?workspaceId=ws-demo&mediumId=ch-demo&from=2026-01-01&to=2026-01-02&label=cl%20churn%C3%A9"
	r := vipctl(getenv, "sign", u)
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, tc := range []struct {
		url  string
		want int
	}{
		{u, http.StatusOK},
		{strings.Replace(u, "to=2026-01-02", "to=2026-01-03", 1), http.StatusUnauthorized},
		{u + "&limit=1", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s signed for %s answered %d, want %d", tc.url, u, resp.StatusCode, tc.want)
		}
	}
}
