package labelindex_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/seed"
)

// preIndex writes messages as they were before the index: message items only.
func preIndex(t *testing.T, n int) *world {
	t.Helper()
	w := newWorld(t)
	for _, m := range seed.Generate(rand.New(rand.NewPCG(31, 31)), t0, t1, n) {
		w.put(t, m)
	}
	// Another channel's messages, and a workspace item, which a channel rebuild
	// leaves alone and --all indexes or skips.
	other, err := messages.Message{MessageID: "other", Timestamp: t0.UnixMilli(), Labels: []string{"frustrated"}}.Item(ws, "ch-other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &w.table, Item: other}); err != nil {
		t.Fatal(err)
	}
	if err := seed.NewWriter(w.ddb, w.table).Write(context.Background(), seed.Dataset{
		Workspaces: []seed.Workspace{{ID: ws, Name: "w", VIP: true}},
	}); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestRebuildChannelResumes(t *testing.T) {
	w := preIndex(t, 300)
	rb := labelindex.NewRebuilder(w.ddb, w.table)
	rb.PageSize = 40

	// Interrupted after two pages: the last token reported resumes the rest.
	ctx, cancel := context.WithCancel(context.Background())
	var token string
	_, err := rb.Channel(ctx, ws, ch, "", func(p labelindex.Progress) {
		if p.Pages == 2 {
			token = p.Token
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || token == "" {
		t.Fatalf("interrupted rebuild: %v, token %q", err, token)
	}
	p, err := rb.Channel(context.Background(), ws, ch, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Token != "" || p.Messages != 300-80 {
		t.Fatalf("resumed rebuild: %+v, want the last 220 messages and no token", p)
	}
	w.check(t) // also counts index items: ch-other has none yet
	// Idempotent: again from the start, the same index.
	if _, err := rb.Channel(context.Background(), ws, ch, "", nil); err != nil {
		t.Fatal(err)
	}
	w.check(t)

	if _, err := rb.Channel(context.Background(), ws, ch, "v1.bogus", nil); !errors.Is(err, labelindex.ErrBadToken) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestRebuildAll(t *testing.T) {
	w := preIndex(t, 120)
	rb := labelindex.NewRebuilder(w.ddb, w.table)
	rb.PageSize = 25
	var token string
	ctx, cancel := context.WithCancel(context.Background())
	_, err := rb.All(ctx, "", func(p labelindex.Progress) {
		if p.Pages == 3 {
			token = p.Token
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if _, err := rb.All(context.Background(), token, nil); err != nil {
		t.Fatal(err)
	}
	// ch-other's message is indexed too.
	got := walk(t, w.index, messages.Query{WorkspaceID: ws, MediumID: "ch-other", From: t0, Until: t1, Label: "frustrated", Limit: 5})
	if len(got) != 1 || got[0].MessageID != "other" {
		t.Fatalf("ch-other: %v", idsOf(got))
	}
	w.elsewhere = 1
	w.check(t)
}

// racingClient changes a message's labels right before the rebuild writes the
// page that read it, as the AI labelling (and the live indexer) might.
type racingClient struct {
	labelindex.RebuildAPI
	once func()
}

func (c *racingClient) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if c.once != nil {
		f := c.once
		c.once = nil
		f()
	}
	return c.RebuildAPI.BatchWriteItem(ctx, in, opts...)
}

func TestRebuildRepairsAMessageChangedMeanwhile(t *testing.T) {
	w := preIndex(t, 50)
	var victim string
	for id, m := range w.msgs {
		if len(m.Labels) > 0 {
			victim = id
			break
		}
	}
	if victim == "" {
		t.Fatal("no labelled message")
	}
	client := &racingClient{RebuildAPI: w.ddb}
	client.once = func() {
		// Labels removed after the page was read: the index item the page is
		// about to write would be stale. The indexer would delete nothing (it
		// ran already, or finds nothing to delete), so the rebuild must.
		w.update(t, victim, func(m *messages.Message) { m.Labels, m.Text = nil, "relabelled" })
	}
	p, err := labelindex.NewRebuilder(client, w.table).Channel(context.Background(), ws, ch, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Repaired != 1 {
		t.Fatalf("repaired %d messages, want 1", p.Repaired)
	}
	w.check(t)
}
