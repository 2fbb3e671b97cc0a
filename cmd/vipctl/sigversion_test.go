package main

import (
	"context"
	"errors"
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

// A key moves to v2 only and back: --min-signature-version on create and
// set-workspaces, shown by keys show, enforced by the handler.
func TestMinSignatureVersion(t *testing.T) {
	getenv := vars(t)
	k := createKey(t, getenv, "--workspace", "ws-demo", "--min-signature-version", "2")
	if r := mustRun(t, getenv, "keys", "show", k.KeyID); !strings.Contains(r.stdout, "v2 only") {
		t.Errorf("keys show:\n%s", r)
	}
	wantAnswer(t, "v2-only key, v2", listWith(t, client.SignatureV2, k.KeyID, k.Secret), nil)
	err := listWith(t, client.SignatureV1, k.KeyID, k.Secret)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || !strings.HasPrefix(apiErr.Message, "this key requires signature v2") {
		t.Fatalf("v2-only key, valid v1: %v, want 401 'this key requires signature v2 ...'", err)
	}
	wantAnswer(t, "v2-only key, wrong v1", listWith(t, client.SignatureV1, k.KeyID, k.Secret+"x"), client.ErrUnauthorized)
	if err := listWith(t, client.SignatureV1, k.KeyID, k.Secret+"x"); strings.Contains(err.Error(), "requires signature v2") {
		t.Fatalf("a wrong v1 signature learned that the key wants v2: %v", err)
	}

	// Back to both versions, the workspaces untouched.
	r := mustRun(t, getenv, "keys", "set-workspaces", "--min-signature-version", "1", k.KeyID)
	if !strings.Contains(r.stdout, "workspaces ws-demo; signatures v1 and v2") {
		t.Errorf("set-workspaces:\n%s", r)
	}
	wantAnswer(t, "both again, v1", listWith(t, client.SignatureV1, k.KeyID, k.Secret), nil)
	// And to v2 only with set-workspaces, as docs/signing.md's migration says.
	mustRun(t, getenv, "keys", "set-workspaces", "--min-signature-version", "2", k.KeyID)
	wantAnswer(t, "v2 only again, v2", listWith(t, client.SignatureV2, k.KeyID, k.Secret), nil)
	if err := listWith(t, client.SignatureV1, k.KeyID, k.Secret); err == nil {
		t.Fatal("v2-only key accepted v1 after set-workspaces")
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
