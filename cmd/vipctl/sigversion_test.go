package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/client"
)

// listWith makes one request signed with the given version through the real
// handler: nil or the *client.APIError.
func listWith(t *testing.T, version int, keyID, secret string) error {
	t.Helper()
	c := client.New(apiURL(t), keyID, secret)
	c.Retry.MaxRetries = -1
	c.SignatureVersion = version
	day := time.Now().UTC().Format(time.DateOnly)
	_, err := c.List(context.Background(), client.Query{WorkspaceID: "ws-demo", MediumID: "ch-demo", From: day, To: day, Limit: 1})
	var apiErr *client.APIError
	if err != nil && !errors.As(err, &apiErr) {
		t.Fatalf("request failed without an answer: %v", err)
	}
	return err
}

// refusesV1 checks that a key answers a valid version 1 signature with the 401
// that names version 2, and a wrong one with the uniform 401 that does not.
func refusesV1(t *testing.T, what, keyID, secret string) {
	t.Helper()
	err := listWith(t, client.SignatureV1, keyID, secret)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || !strings.HasPrefix(apiErr.Message, "this key requires signature v2") {
		t.Fatalf("%s, valid v1: %v, want 401 'this key requires signature v2 ...'", what, err)
	}
	err = listWith(t, client.SignatureV1, keyID, secret+"x")
	wantAnswer(t, what+", wrong v1", err, client.ErrUnauthorized)
	if strings.Contains(err.Error(), "requires signature v2") {
		t.Fatalf("%s: a wrong v1 signature learned that the key wants v2: %v", what, err)
	}
}

// keys create makes v2-only keys unless --min-signature-version 1; keys show
// says which, and the handler enforces it.
func TestCreateSignatureVersions(t *testing.T) {
	getenv := vars(t)
	for _, c := range []struct {
		name   string
		args   []string
		show   string
		takeV1 bool
	}{
		{"default", nil, "v2 only", false},
		{"--min-signature-version 2", []string{"--min-signature-version", "2"}, "v2 only", false},
		{"--min-signature-version 1", []string{"--min-signature-version", "1"}, "v1 and v2", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := createKey(t, getenv, append([]string{"--workspace", "ws-demo"}, c.args...)...)
			if r := mustRun(t, getenv, "keys", "show", k.KeyID); !regexp.MustCompile(`(?m)^signatures +` + c.show + `$`).MatchString(r.stdout) {
				t.Errorf("keys show, want signatures %s:\n%s", c.show, r)
			}
			wantAnswer(t, "v2", listWith(t, client.SignatureV2, k.KeyID, k.Secret), nil)
			if c.takeV1 {
				wantAnswer(t, "v1", listWith(t, client.SignatureV1, k.KeyID, k.Secret), nil)
			} else {
				refusesV1(t, "v2-only key", k.KeyID, k.Secret)
			}
		})
	}
}

// A key that accepts both moves to v2 only and back with set-workspaces, as
// docs/signing.md's migration says, its workspaces untouched.
func TestMinSignatureVersion(t *testing.T) {
	getenv := vars(t)
	k := createKey(t, getenv, "--workspace", "ws-demo", "--min-signature-version", "1")
	wantAnswer(t, "both, v1", listWith(t, client.SignatureV1, k.KeyID, k.Secret), nil)

	r := mustRun(t, getenv, "keys", "set-workspaces", "--min-signature-version", "2", k.KeyID)
	if !strings.Contains(r.stdout, "workspaces ws-demo; signatures v2 only") {
		t.Errorf("set-workspaces:\n%s", r)
	}
	wantAnswer(t, "moved to v2 only, v2", listWith(t, client.SignatureV2, k.KeyID, k.Secret), nil)
	refusesV1(t, "moved to v2 only", k.KeyID, k.Secret)

	r = mustRun(t, getenv, "keys", "set-workspaces", "--min-signature-version", "1", k.KeyID)
	if !strings.Contains(r.stdout, "workspaces ws-demo; signatures v1 and v2") {
		t.Errorf("set-workspaces:\n%s", r)
	}
	wantAnswer(t, "both again, v1", listWith(t, client.SignatureV1, k.KeyID, k.Secret), nil)

	// --workspace alone leaves the version as it is.
	mustRun(t, getenv, "keys", "set-workspaces", "--min-signature-version", "2", k.KeyID)
	r = mustRun(t, getenv, "keys", "set-workspaces", "--workspace", "ws-demo", k.KeyID)
	if !strings.Contains(r.stdout, "signatures v2 only") {
		t.Errorf("set-workspaces --workspace changed the signature version:\n%s", r)
	}

	for _, args := range [][]string{
		{"keys", "create", "--workspace", "ws-demo", "--min-signature-version", "3"},
		{"keys", "set-workspaces", "--min-signature-version", "0", k.KeyID},
		{"keys", "set-workspaces", k.KeyID},
	} {
		if r := vipctl(getenv, args...); r.code != exitUsage {
			t.Errorf("vipctl %s: want a usage error\n%s", strings.Join(args, " "), r)
		}
	}
}
