package rebuild_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/labelindex/rebuild"
	"github.com/vip-messages/api/internal/table"
)

func TestRebuildChannelResumes(t *testing.T) {
	w := preIndex(t, 300)
	rb := rebuild.New(w.ddb, w.table)
	rb.PageSize = 40

	// Interrupted after two pages: the last token reported resumes the rest.
	ctx, cancel := context.WithCancel(context.Background())
	var token string
	_, err := rb.Channel(ctx, ws, ch, "", func(p rebuild.Progress) {
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
	w.check(t) // ch-other has no index items yet
	// Idempotent: again from the start, the same index.
	if _, err := rb.Channel(context.Background(), ws, ch, "", nil); err != nil {
		t.Fatal(err)
	}
	w.check(t)

	if _, err := rb.Channel(context.Background(), ws, ch, "v1.bogus", nil); !errors.Is(err, rebuild.ErrBadToken) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestRebuildAll(t *testing.T) {
	w := preIndex(t, 120)
	rb := rebuild.New(w.ddb, w.table)
	rb.PageSize = 25
	var token string
	ctx, cancel := context.WithCancel(context.Background())
	_, err := rb.All(ctx, "", func(p rebuild.Progress) {
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
	w.elsewhere = []table.Message{w.other}
	w.check(t)
}

// racingClient changes a message's labels right before the rebuild writes the
// page that read it, as the AI labelling (and the live indexer) might.
type racingClient struct {
	rebuild.API
	mu   sync.Mutex
	once func()
}

func (c *racingClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.mu.Lock()
	f := c.once
	c.once = nil
	c.mu.Unlock()
	if f != nil {
		f()
	}
	return c.API.PutItem(ctx, in, opts...)
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
	client := &racingClient{API: w.ddb}
	client.once = func() {
		// Labels removed after the page was read: the index item the page is
		// about to write would be stale. The indexer would delete nothing (it
		// ran already, or finds nothing to delete), so the rebuild must.
		w.update(t, victim, func(m *table.Message) { m.Labels, m.Text = nil, "relabelled" })
	}
	p, err := rebuild.New(client, w.table).Channel(context.Background(), ws, ch, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Repaired != 1 {
		t.Fatalf("repaired %d messages, want 1", p.Repaired)
	}
	w.check(t)
}

// orphanWorld is an indexed channel whose table then changed behind the
// indexer's back: a labelled message deleted and a label removed from another,
// with no stream record delivered; and an orphan in another channel.
func orphanWorld(t *testing.T) (w *world, removed, relabelled, label string, orphans int) {
	t.Helper()
	w = preIndex(t, 80)
	if _, err := rebuild.New(w.ddb, w.table).Channel(context.Background(), ws, ch, "", nil); err != nil {
		t.Fatal(err)
	}
	w.check(t)
	ids := slices.Sorted(maps.Keys(w.msgs))
	for _, id := range ids {
		m := w.msgs[id]
		switch {
		case removed == "" && len(labelindex.Labels(ws, ch, m)) > 1:
			removed = id
			// Its index items, and the presence marker the rebuild gave it.
			orphans += len(labelindex.Labels(ws, ch, m)) + 1
		case relabelled == "" && len(m.Labels) > 0 && !slices.Contains(m.CustomLabelIDs, m.Labels[0]):
			relabelled, label = id, m.Labels[0]
			orphans++
		}
	}
	if removed == "" || relabelled == "" {
		t.Fatal("no labelled messages")
	}
	w.remove(t, removed)
	w.update(t, relabelled, func(m *table.Message) { m.Labels = m.Labels[1:] })

	// An orphan in ch-other: an index item for a message that never existed.
	ghost := table.Message{MessageID: "ghost", Timestamp: t0.UnixMilli(), Labels: []string{"frustrated"}}
	w.putIndex(t, other, ghost)
	w.elsewhere = []table.Message{ghost}
	return w, removed, relabelled, label, orphans
}

func TestRebuildSweepsOrphans(t *testing.T) {
	w, _, _, _, orphans := orphanWorld(t)
	rb := rebuild.New(w.ddb, w.table)
	rb.PageSize = 30

	// Interrupted inside the sweep, then resumed from its token.
	ctx, cancel := context.WithCancel(context.Background())
	var token string
	first, err := rb.Channel(ctx, ws, ch, "", func(p rebuild.Progress) {
		if p.SweepPages == 1 {
			token = p.Token
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || token == "" {
		t.Fatalf("interrupted sweep: %v, token %q", err, token)
	}
	p, err := rb.Channel(context.Background(), ws, ch, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Messages != 0 || p.Token != "" || first.Orphans+p.Orphans != orphans {
		t.Fatalf("resumed sweep: %+v after %+v, want %d orphans deleted", p, first, orphans)
	}
	// No orphan is left in ch; ch-other's orphan is not this channel's.
	w.check(t)

	// Idempotent: nothing more to delete.
	if p, err := rb.Channel(context.Background(), ws, ch, "", nil); err != nil || p.Orphans != 0 {
		t.Fatalf("second rebuild: %+v, %v", p, err)
	}
	// A sweep token of another channel is refused.
	if _, err := rb.Channel(context.Background(), ws, "ch-other", token, nil); !errors.Is(err, rebuild.ErrBadToken) {
		t.Fatalf("other channel's token: %v", err)
	}

	// --all: ch-other's message is indexed and its orphan deleted.
	p, err = rb.All(context.Background(), "", nil)
	if err != nil || p.Orphans != 1 {
		t.Fatalf("--all: %+v, %v; want 1 orphan", p, err)
	}
	w.elsewhere = []table.Message{w.other}
	w.check(t)
}

func TestRebuildAllSweepsOrphans(t *testing.T) {
	w, _, _, _, orphans := orphanWorld(t)
	rb := rebuild.New(w.ddb, w.table)
	rb.PageSize = 17
	p, err := rb.All(context.Background(), "", nil)
	if err != nil || p.Orphans != orphans+1 {
		t.Fatalf("--all: %+v, %v; want %d orphans", p, err, orphans+1)
	}
	w.elsewhere = []table.Message{w.other}
	w.check(t)
}

// sweepRacer re-adds the label before the sweep's first conditional delete, as
// the AI labelling and the live indexer might between the sweep's read and
// its delete.
type sweepRacer struct {
	rebuild.API
	once func()
}

func (c *sweepRacer) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if c.once != nil {
		f := c.once
		c.once = nil
		f()
	}
	return c.API.TransactWriteItems(ctx, in, opts...)
}

func TestSweepKeepsAnItemTheIndexerRecreated(t *testing.T) {
	w, _, relabelled, label, orphans := orphanWorld(t)
	client := &sweepRacer{API: w.ddb}
	var raced bool
	client.once = func() {
		raced = true
		// The label comes back on every orphan's message that still exists, and
		// the indexer writes its item: the sweep must not delete it.
		w.update(t, relabelled, func(m *table.Message) { m.Labels = append([]string{label}, m.Labels...) })
		w.putIndex(t, ch, w.msgs[relabelled])
	}
	rb := rebuild.New(client, w.table)
	rb.PageSize = 1000 // one page: every candidate is decided before the race
	// Sweep only: the first phase would re-read the message before the race.
	p, err := rb.Channel(context.Background(), ws, ch, rebuild.SweepStartToken(), nil)
	if err != nil || !raced {
		t.Fatalf("sweep: %+v, %v (raced %v)", p, err, raced)
	}
	if p.Orphans != orphans-1 {
		t.Fatalf("deleted %d orphans, want %d (the relabelled message's item kept)", p.Orphans, orphans-1)
	}
	w.check(t)
}

// repairRacer runs beforeWrite before the first PutItem (the page's writes)
// and afterReread after the first BatchGetItem (the page's re-read).
type repairRacer struct {
	rebuild.API
	mu                       sync.Mutex
	beforeWrite, afterReread func()
}

func (c *repairRacer) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.mu.Lock()
	f := c.beforeWrite
	c.beforeWrite = nil
	c.mu.Unlock()
	if f != nil {
		f()
	}
	return c.API.PutItem(ctx, in, opts...)
}

func (c *repairRacer) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := c.API.BatchGetItem(ctx, in, opts...)
	c.mu.Lock()
	f := c.afterReread
	if err == nil {
		c.afterReread = nil
	}
	c.mu.Unlock()
	if f != nil && err == nil {
		f()
	}
	return out, err
}

// The rebuild re-reads a message whose label went while its page was written;
// then, before the rebuild repairs it, the label comes back and the live
// indexer writes the item with the new text. The repair must not delete that
// item (an unconditional one did): it loses its condition, reads the message
// again, and ends with the item present and current.
func TestRebuildRepairLosesTheRaceToTheIndexer(t *testing.T) {
	w := preIndex(t, 30)
	var victim, label string
	for _, id := range slices.Sorted(maps.Keys(w.msgs)) {
		if m := w.msgs[id]; len(m.Labels) > 0 && !slices.Contains(m.CustomLabelIDs, m.Labels[0]) {
			victim, label = id, m.Labels[0]
			break
		}
	}
	if victim == "" {
		t.Fatal("no labelled message")
	}
	client := &repairRacer{API: w.ddb}
	client.beforeWrite = func() {
		w.update(t, victim, func(m *table.Message) {
			m.Labels, m.Text = slices.DeleteFunc(slices.Clone(m.Labels), func(l string) bool { return l == label }), "without the label"
		})
	}
	client.afterReread = func() {
		w.update(t, victim, func(m *table.Message) { m.Labels, m.Text = append([]string{label}, m.Labels...), "current" })
		w.putIndex(t, ch, w.msgs[victim])
	}
	p, err := rebuild.New(client, w.table).Channel(context.Background(), ws, ch, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if client.beforeWrite != nil || client.afterReread != nil || p.Repaired != 1 {
		t.Fatalf("the race did not happen as staged: %+v", p)
	}
	if got, ok := w.index(t)[indexKey(ch, label, w.msgs[victim])]; !ok || got.Text != "current" {
		t.Fatalf("the index item of %s under %q is missing or stale: %+v", victim, label, got)
	}
	w.check(t)
}

// cancelAfterWrite changes a message between the page's read and its first
// index write, and cancels the rebuild's context once that write is done: the
// stop falls between the page's writes and the re-read that repairs them.
type cancelAfterWrite struct {
	rebuild.API
	mu          sync.Mutex
	beforeWrite func()
	cancel      context.CancelFunc
}

func (c *cancelAfterWrite) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.mu.Lock()
	f := c.beforeWrite
	c.beforeWrite = nil
	c.mu.Unlock()
	if f != nil {
		f()
	}
	out, err := c.API.PutItem(ctx, in, opts...)
	c.cancel()
	return out, err
}

// A rebuild interrupted between a page's write and its repair: the label the
// message lost meanwhile must not stay indexed.
func TestInterruptedRebuildLeavesNothingWrong(t *testing.T) {
	w := preIndex(t, 20)
	var victim string
	for _, id := range slices.Sorted(maps.Keys(w.msgs)) {
		if len(w.msgs[id].Labels) > 0 {
			victim = id
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	client := &cancelAfterWrite{API: w.ddb, cancel: cancel}
	client.beforeWrite = func() { w.update(t, victim, func(m *table.Message) { m.Labels = nil }) }
	_, err := rebuild.New(client, w.table).Channel(ctx, ws, ch, "", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("rebuild: %v, want it interrupted", err)
	}
	// What the rebuild wrote is right for every message it wrote.
	got := w.index(t)
	for k, m := range got {
		if want, ok := w.msgs[m.MessageID]; !ok || !sameMessage(m, want) {
			t.Fatalf("index item %q is %+v, the message is %+v", k, m, want)
		}
		label := strings.Split(k, "\n")[1]
		if !slices.Contains(labelindex.Labels(ws, ch, w.msgs[m.MessageID]), label) {
			t.Fatalf("index item %q: the message does not carry the label", k)
		}
	}
}
