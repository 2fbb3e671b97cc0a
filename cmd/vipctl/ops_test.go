package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/client"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/seed"
	schema "github.com/vip-messages/api/internal/table"
)

// listAs makes one signed request with the key through the real handler and
// returns nil or the *client.APIError.
func listAs(t *testing.T, keyID, secret, workspace, medium string) error {
	t.Helper()
	c := client.New(apiURL(t), keyID, secret)
	c.Retry.MaxRetries = -1
	day := time.Now().UTC().Format(time.DateOnly)
	_, err := c.List(context.Background(), client.Query{WorkspaceID: workspace, MediumID: medium, From: day, To: day, Limit: 1})
	var apiErr *client.APIError
	if err != nil && !errors.As(err, &apiErr) {
		t.Fatalf("request failed without an answer: %v", err)
	}
	return err
}

func wantAnswer(t *testing.T, step string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: request answered %v, want %v", step, err, want)
	}
}

func mustRun(t *testing.T, getenv func(string) string, args ...string) result {
	t.Helper()
	r := vipctl(getenv, args...)
	if r.code != 0 {
		t.Fatalf("vipctl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func mustFail(t *testing.T, getenv func(string) string, msg string, args ...string) {
	t.Helper()
	r := vipctl(getenv, args...)
	if r.code != 1 || !strings.Contains(r.stderr, msg) || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("vipctl %s: want exit 1 and one line with %q\n%s", strings.Join(args, " "), msg, r)
	}
}

func createKey(t *testing.T, getenv func(string) string, args ...string) keyOut {
	t.Helper()
	r := mustRun(t, getenv, append([]string{"keys", "create", "--json"}, args...)...)
	var k keyOut
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil {
		t.Fatalf("keys create output: %v\n%s", err, r)
	}
	if !auth.ValidKeyID(k.KeyID) || len(k.Secret) < 43 {
		t.Fatalf("key %+v", k)
	}
	return k
}

func TestKeysLifecycle(t *testing.T) {
	getenv := vars(t)
	ws, ch := seed.DemoWorkspace, seed.DemoChannel

	k := createKey(t, getenv, "--workspace", ws)
	if !strings.HasPrefix(k.KeyID, keyIDPrefix) || k.SecretName != local(t).SecretPrefix+"/"+k.KeyID {
		t.Errorf("created %+v", k)
	}
	wantAnswer(t, "created key", listAs(t, k.KeyID, k.Secret, ws, ch), nil)
	wantAnswer(t, "wrong secret", listAs(t, k.KeyID, k.Secret+"x", ws, ch), client.ErrUnauthorized)
	wantAnswer(t, "other workspace", listAs(t, k.KeyID, k.Secret, seed.DemoBasicWorkspace, seed.DemoBasicChannel), client.ErrForbidden)

	r := mustRun(t, getenv, "keys", "show", k.KeyID)
	if !strings.Contains(r.stdout, "current\n") || !strings.Contains(r.stdout, ws) || strings.Contains(r.stdout, k.Secret) {
		t.Errorf("keys show:\n%s", r)
	}

	// rotate: both secrets work.
	r = mustRun(t, getenv, "keys", "rotate", "--json", k.KeyID)
	var rotated keyOut
	if err := json.Unmarshal([]byte(r.stdout), &rotated); err != nil || rotated.KeyID != k.KeyID || rotated.Secret == k.Secret {
		t.Fatalf("rotate: %v %+v", err, rotated)
	}
	wantAnswer(t, "rotated, old secret", listAs(t, k.KeyID, k.Secret, ws, ch), nil)
	wantAnswer(t, "rotated, new secret", listAs(t, k.KeyID, rotated.Secret, ws, ch), nil)
	if r := mustRun(t, getenv, "keys", "show", k.KeyID); !strings.Contains(r.stdout, "current + previous") {
		t.Errorf("keys show after rotate:\n%s", r)
	}
	mustFail(t, getenv, "still lists a previous secret", "keys", "rotate", k.KeyID)

	// retire-previous: only the new secret works.
	mustRun(t, getenv, "keys", "retire-previous", k.KeyID)
	wantAnswer(t, "retired, old secret", listAs(t, k.KeyID, k.Secret, ws, ch), client.ErrUnauthorized)
	wantAnswer(t, "retired, new secret", listAs(t, k.KeyID, rotated.Secret, ws, ch), nil)
	if r := mustRun(t, getenv, "keys", "retire-previous", k.KeyID); !strings.Contains(r.stderr, "nothing to do") {
		t.Errorf("second retire-previous:\n%s", r)
	}

	// rotate --force drops a still-listed previous secret.
	r = mustRun(t, getenv, "keys", "rotate", "--json", k.KeyID)
	var second keyOut
	_ = json.Unmarshal([]byte(r.stdout), &second)
	r = mustRun(t, getenv, "keys", "rotate", "--json", "--force", k.KeyID)
	var third keyOut
	_ = json.Unmarshal([]byte(r.stdout), &third)
	wantAnswer(t, "forced rotation, oldest secret", listAs(t, k.KeyID, rotated.Secret, ws, ch), client.ErrUnauthorized)
	wantAnswer(t, "forced rotation, previous secret", listAs(t, k.KeyID, second.Secret, ws, ch), nil)
	wantAnswer(t, "forced rotation, current secret", listAs(t, k.KeyID, third.Secret, ws, ch), nil)

	// set-workspaces moves the key.
	mustRun(t, getenv, "keys", "set-workspaces", "--workspace", seed.DemoBasicWorkspace, k.KeyID)
	wantAnswer(t, "moved key, old workspace", listAs(t, k.KeyID, third.Secret, ws, ch), client.ErrForbidden)
	mustRun(t, getenv, "keys", "set-workspaces", "--workspace", "ws-other,"+ws, k.KeyID)
	wantAnswer(t, "moved back", listAs(t, k.KeyID, third.Secret, ws, ch), nil)

	// revoke (with a recovery window): the key stops working.
	r = mustRun(t, getenv, "keys", "revoke", k.KeyID)
	if !strings.Contains(r.stdout, "until then: vipctl keys restore "+k.KeyID) {
		t.Errorf("revoke:\n%s", r)
	}
	wantAnswer(t, "revoked", listAs(t, k.KeyID, third.Secret, ws, ch), client.ErrUnauthorized)
	// Commands on a revoked key say so, not Secrets Manager's text.
	for _, args := range [][]string{{"show"}, {"rotate"}, {"set-workspaces", "--workspace", ws}} {
		mustFail(t, getenv, "key "+k.KeyID+" is revoked: its secret "+k.SecretName+" is deleted on ", append(append([]string{"keys"}, args...), k.KeyID)...)
		if r := vipctl(getenv, append(append([]string{"keys"}, args...), k.KeyID)...); strings.Contains(r.stderr, "marked for deletion") {
			t.Errorf("raw AWS text: %s", r)
		}
	}
	mustFail(t, getenv, "already", "keys", "create", "--workspace", ws, "--id", k.KeyID)

	// restore: the key works again, with its secrets and workspaces.
	r = mustRun(t, getenv, "keys", "restore", k.KeyID)
	if !strings.Contains(r.stdout, "key "+k.KeyID+" restored") || !strings.Contains(r.stderr, localCacheHint) {
		t.Errorf("restore:\n%s", r)
	}
	wantAnswer(t, "restored", listAs(t, k.KeyID, third.Secret, ws, ch), nil)
	if r := mustRun(t, getenv, "keys", "restore", k.KeyID); !strings.Contains(r.stderr, "is not revoked: nothing to do") {
		t.Errorf("second restore:\n%s", r)
	}
	mustRun(t, getenv, "keys", "revoke", "--recovery-days", "7", k.KeyID)

	// A chosen id; revoke --force frees it at once.
	id := fmt.Sprintf("ops-key-%d", os.Getpid())
	k2 := createKey(t, getenv, "--workspace", ws, "--id", id)
	wantAnswer(t, "chosen id", listAs(t, id, k2.Secret, ws, ch), nil)
	mustFail(t, getenv, "already exists", "keys", "create", "--workspace", ws, "--id", id)
	mustRun(t, getenv, "keys", "revoke", "--force", id)
	mustFail(t, getenv, "cannot be restored", "keys", "restore", id)
	wantAnswer(t, "force-revoked", listAs(t, id, k2.Secret, ws, ch), client.ErrUnauthorized)
	k3 := createKey(t, getenv, "--workspace", ws, "--id", id)
	wantAnswer(t, "re-created", listAs(t, id, k3.Secret, ws, ch), nil)
	wantAnswer(t, "re-created, old secret", listAs(t, id, k2.Secret, ws, ch), client.ErrUnauthorized)

	mustFail(t, getenv, "cannot be restored", "keys", "restore", "no-such-key-0001")
	mustFail(t, getenv, "not found", "keys", "rotate", "no-such-key-0001")
	mustFail(t, getenv, "not found", "keys", "revoke", "--force", "no-such-key-0001")
}

func TestKeysPrefix(t *testing.T) {
	// --prefix wins over VIP_SECRET_PREFIX; a key under another prefix is
	// unknown to this stage's handler.
	getenv := vars(t, envSecretPrefix, "vip-api/elsewhere/api-keys")
	k := createKey(t, getenv, "--workspace", seed.DemoWorkspace)
	if !strings.HasPrefix(k.SecretName, "vip-api/elsewhere/api-keys/") {
		t.Errorf("secret name %q", k.SecretName)
	}
	wantAnswer(t, "other prefix", listAs(t, k.KeyID, k.Secret, seed.DemoWorkspace, seed.DemoChannel), client.ErrUnauthorized)
	k = createKey(t, getenv, "--workspace", seed.DemoWorkspace, "--prefix", local(t).SecretPrefix+"/")
	wantAnswer(t, "this prefix", listAs(t, k.KeyID, k.Secret, seed.DemoWorkspace, seed.DemoChannel), nil)
}

func TestWorkspacesAndChannels(t *testing.T) {
	getenv := vars(t)
	ws := fmt.Sprintf("ws-ops-%d", os.Getpid())
	const ch = "ch-ops"
	k := createKey(t, getenv, "--workspace", ws)

	wantAnswer(t, "unknown workspace", listAs(t, k.KeyID, k.Secret, ws, ch), client.ErrNotFound)
	mustFail(t, getenv, "register it first", "channels", "connect", ws, ch)

	mustRun(t, getenv, "workspaces", "put", ws, "--vip", "--name", "Ops workspace")
	wantAnswer(t, "VIP workspace, no channel", listAs(t, k.KeyID, k.Secret, ws, ch), client.ErrNotFound)

	mustRun(t, getenv, "channels", "connect", ws, ch, "--name", "Ops channel")
	wantAnswer(t, "connected", listAs(t, k.KeyID, k.Secret, ws, ch), nil)

	mustRun(t, getenv, "channels", "disconnect", ws, ch)
	wantAnswer(t, "disconnected", listAs(t, k.KeyID, k.Secret, ws, ch), client.ErrNotFound)
	mustFail(t, getenv, "not found", "channels", "disconnect", ws, "ch-never")

	mustRun(t, getenv, "channels", "connect", ws, ch)
	wantAnswer(t, "reconnected", listAs(t, k.KeyID, k.Secret, ws, ch), nil)

	mustRun(t, getenv, "workspaces", "put", ws, "--vip=false")
	wantAnswer(t, "not VIP", listAs(t, k.KeyID, k.Secret, ws, ch), client.ErrForbidden)
	mustRun(t, getenv, "workspaces", "put", "--vip=true", ws)
	wantAnswer(t, "VIP again", listAs(t, k.KeyID, k.Secret, ws, ch), nil)

	// --table names another table.
	mustFail(t, getenv, "table", "workspaces", "put", ws, "--vip", "--table", "no-such-table")
	// The names given are kept on updates without --name.
	db := local(t).DynamoDB()
	for _, c := range []struct{ sk, name string }{{schema.WorkspaceSK(), "Ops workspace"}, {schema.ChannelSK(ch), "Ops channel"}} {
		out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(local(t).Table), Key: schema.Key(schema.WorkspacePK(ws), c.sk)})
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := out.Item[schema.NameAttr].(*types.AttributeValueMemberS); !ok || n.Value != c.name {
			t.Errorf("%s: name %v, want %q", c.sk, out.Item[schema.NameAttr], c.name)
		}
	}
}
