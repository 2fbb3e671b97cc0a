package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/seed"
)

// walk runs a list command page by page (--limit size), following the
// "more: --next TOKEN" line, and returns the JSON lines of every page.
func walk(t *testing.T, getenv func(string) string, size int, args ...string) (lines []string, pages int) {
	t.Helper()
	next := ""
	for {
		a := append(slices.Clone(args), "--json", "--limit", fmt.Sprint(size))
		if next != "" {
			a = append(a, "--next", next)
		}
		r := mustRun(t, getenv, a...)
		pages++
		if out := strings.TrimSuffix(r.stdout, "\n"); out != "" {
			page := strings.Split(out, "\n")
			if len(page) > size {
				t.Fatalf("page of %d rows, --limit %d", len(page), size)
			}
			lines = append(lines, page...)
		}
		var ok bool
		if next, ok = strings.CutPrefix(strings.TrimSpace(r.stderr), "more: --next "); !ok {
			if r.stderr != "" {
				t.Fatalf("stderr: %s", r)
			}
			return lines, pages
		}
		next = strings.TrimSuffix(next, " (or --all)")
		if pages > 100 {
			t.Fatal("no end")
		}
	}
}

func TestKeysList(t *testing.T) {
	getenv := vars(t, envSecretPrefix, fmt.Sprintf("vip-api/list-%d/api-keys", os.Getpid()))
	var ids []string
	for i := range 5 {
		k := createKey(t, getenv, "--workspace", seed.DemoWorkspace, "--id", fmt.Sprintf("list-key-%04d", i))
		ids = append(ids, k.KeyID)
	}
	mustRun(t, getenv, "keys", "revoke", ids[2])
	// A key of another prefix that starts with this one is not listed.
	createKey(t, vars(t, envSecretPrefix, fmt.Sprintf("vip-api/list-%d/api-keys-2", os.Getpid())), "--workspace", seed.DemoWorkspace)

	for _, size := range []int{1, 2, 5, 50} {
		lines, pages := walk(t, getenv, size, "keys", "list")
		var got []string
		for _, l := range lines {
			var k apiKey
			if err := json.Unmarshal([]byte(l), &k); err != nil || k.Created.IsZero() || !strings.HasSuffix(k.SecretName, "/"+k.KeyID) {
				t.Fatalf("line %q: %v", l, err)
			}
			if (k.DeletionDate != nil) != (k.KeyID == ids[2]) {
				t.Errorf("key %s: deletion date %v", k.KeyID, k.DeletionDate)
			}
			got = append(got, k.KeyID)
		}
		if !slices.Equal(got, ids) || pages < (5+size-1)/size {
			t.Errorf("--limit %d: %v in %d pages, want %v", size, got, pages, ids)
		}
	}
	r := mustRun(t, getenv, "keys", "list", "--all", "--limit", "2")
	rows := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(rows) != 6 || !strings.HasPrefix(rows[0], "KEY ID") || !strings.Contains(rows[3], ids[2]+"  revoked, deleted on ") || r.stderr != "" {
		t.Errorf("table:\n%s", r)
	}
	// An empty prefix: nothing on stdout; on a terminal, a word on stderr.
	empty := vars(t, envSecretPrefix, "vip-api/nothing-here/api-keys")
	if r := mustRun(t, empty, "keys", "list", "--json"); r.stdout != "" || r.stderr != "" {
		t.Errorf("empty, not a terminal:\n%s", r)
	}
	if r := onTerminal(t, empty, "keys", "list"); r.stderr != "no keys under vip-api/nothing-here/api-keys/\n" {
		t.Errorf("empty, on a terminal:\n%s", r)
	}
}

// onTerminal runs vipctl as if stdout and stderr were a terminal.
func onTerminal(t *testing.T, getenv func(string) string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := newEnv(&out, &errOut, getenv)
	e.stdoutTTY, e.stderrTTY = true, true
	code := e.main(context.Background(), args)
	if code != 0 {
		t.Fatalf("vipctl %s: exit %d\n%s", strings.Join(args, " "), code, errOut.String())
	}
	return result{code, out.String(), errOut.String()}
}

func TestWorkspacesAndChannelsList(t *testing.T) {
	stack := local(t)
	// A table of its own, so that the list is known exactly.
	table := fmt.Sprintf("vipctl-lists-%d", os.Getpid())
	ctx := t.Context()
	if err := ddblocal.CreateTable(ctx, stack.DynamoDB(), table); err != nil {
		t.Fatal(err)
	}
	getenv := vars(t, envTable, table)
	if r := onTerminal(t, getenv, "workspaces", "list"); r.stderr != "no workspaces in "+table+"\n" {
		t.Errorf("empty table:\n%s", r)
	}
	want := map[string]workspace{}
	var wantCh []string
	for i := range 7 {
		w := workspace{ID: fmt.Sprintf("ws-list-%d", i), VIP: i%2 == 0, Name: fmt.Sprintf("Workspace %d", i)}
		want[w.ID] = w
		mustRun(t, getenv, "workspaces", "put", w.ID, fmt.Sprintf("--vip=%t", w.VIP), "--name", w.Name)
		ch := fmt.Sprintf("ch-%d", i)
		mustRun(t, getenv, "channels", "connect", "ws-list-0", ch)
		wantCh = append(wantCh, ch)
	}
	mustRun(t, getenv, "channels", "disconnect", "ws-list-0", "ch-3")
	// Messages in the table are not workspaces.
	now := time.Now()
	for _, m := range seed.Generate(rand.New(rand.NewPCG(1, 2)), now.Add(-time.Hour), now, 30) {
		item, err := m.Item("ws-list-0", "ch-0")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stack.DynamoDB().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}

	for _, size := range []int{1, 3, 1000} {
		lines, _ := walk(t, getenv, size, "workspaces", "list")
		got := map[string]workspace{}
		for _, l := range lines {
			var w workspace
			if err := json.Unmarshal([]byte(l), &w); err != nil {
				t.Fatal(err)
			}
			if _, dup := got[w.ID]; dup {
				t.Errorf("--limit %d: %s twice", size, w.ID)
			}
			got[w.ID] = w
		}
		if len(got) != len(want) {
			t.Errorf("--limit %d: %d workspaces, want %d: %v", size, len(got), len(want), got)
		}
		for id, w := range want {
			if g := got[id]; g.VIP != w.VIP || w.Name != "" && g.Name != w.Name {
				t.Errorf("--limit %d: %s is %+v, want %+v", size, id, g, w)
			}
		}
	}

	for _, size := range []int{1, 2, 7, 50} {
		lines, _ := walk(t, getenv, size, "channels", "list", "ws-list-0")
		var got []string
		for _, l := range lines {
			var c channel
			if err := json.Unmarshal([]byte(l), &c); err != nil || c.WorkspaceID != "ws-list-0" || c.Connected != (c.MediumID != "ch-3") {
				t.Fatalf("line %q: %v", l, err)
			}
			got = append(got, c.MediumID)
		}
		if !slices.Equal(got, wantCh) {
			t.Errorf("channels --limit %d: %v, want %v", size, got, wantCh)
		}
	}
	r := mustRun(t, getenv, "channels", "list", "ws-list-0", "--all", "--limit", "2")
	if rows := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n"); len(rows) != 8 || !strings.HasPrefix(rows[0], "MEDIUM") || strings.Join(strings.Fields(rows[4]), " ") != "ch-3 false -" {
		t.Errorf("channels table:\n%s", r)
	}
	if r := onTerminal(t, getenv, "channels", "list", "ws-list-1"); r.stderr != "no channels in workspace ws-list-1\n" {
		t.Errorf("no channels:\n%s", r)
	}
	mustFail(t, getenv, "workspace ws-nowhere not found in "+table, "channels", "list", "ws-nowhere")

	// put without --vip updates the name and keeps the VIP status; it does not create.
	mustRun(t, getenv, "workspaces", "put", "ws-list-0", "--name", "Renamed")
	r = mustRun(t, getenv, "workspaces", "put", "ws-list-1", "--name", "Renamed too")
	if r.stdout != "workspace ws-list-1: vip=false name=\"Renamed too\"\n" {
		t.Errorf("rename: %s", r)
	}
	lines, _ := walk(t, getenv, 1000, "workspaces", "list")
	for _, l := range lines {
		var w workspace
		_ = json.Unmarshal([]byte(l), &w)
		if w.ID == "ws-list-0" && (!w.VIP || w.Name != "Renamed") {
			t.Errorf("after rename: %+v", w)
		}
	}
	if r := vipctl(getenv, "workspaces", "put", "ws-new", "--name", "New"); r.code != 2 || !strings.Contains(r.stderr, "workspace ws-new is not in "+table+": creating it needs --vip or --vip=false") {
		t.Errorf("create without --vip:\n%s", r)
	}
	lines, _ = walk(t, getenv, 1000, "workspaces", "list")
	if len(lines) != len(want) {
		t.Errorf("a workspace was created without --vip: %v", lines)
	}
}
