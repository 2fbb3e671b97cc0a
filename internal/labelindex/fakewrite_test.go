package labelindex_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/table"
)

// fakeWrites is a labelindex.WriteAPI in memory. Requests for the index items
// of the message with sort key stuckSK come back as UnprocessedItems for
// unprocessed rounds, then the call fails; delay slows every call (and gives
// up when the context ends, applying nothing).
type fakeWrites struct {
	stuckSK     string
	unprocessed int
	delay       time.Duration

	mu       sync.Mutex
	rounds   int               // BatchWriteItem calls with the stuck message's items
	applied  map[string]string // index pk "\n" sk -> messageId of the item put
	deleted  []string
	stuckPKs []string // index pks of the stuck message's requests seen
}

func newFakeWrites() *fakeWrites { return &fakeWrites{applied: map[string]string{}} }

func (f *fakeWrites) wait(ctx context.Context) error {
	if f.delay == 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(f.delay):
		return nil
	}
}

func str(item map[string]types.AttributeValue, name string) string {
	v, _ := item[name].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

// applyLocked applies one put or delete; f.mu is held.
func (f *fakeWrites) applyLocked(put, del map[string]types.AttributeValue) {
	if put != nil {
		f.applied[str(put, "pk")+"\n"+str(put, "sk")] = str(put, "messageId")
	} else {
		k := str(del, "pk") + "\n" + str(del, "sk")
		delete(f.applied, k)
		f.deleted = append(f.deleted, k)
	}
}

func (f *fakeWrites) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyLocked(in.Item, nil)
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeWrites) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyLocked(nil, in.Key)
	return &dynamodb.DeleteItemOutput{}, nil
}

func (f *fakeWrites) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, reqs := range in.RequestItems {
		stuck := false
		for _, r := range reqs {
			var item map[string]types.AttributeValue
			if r.PutRequest != nil {
				item = r.PutRequest.Item
			} else {
				item = r.DeleteRequest.Key
			}
			if f.stuckSK != "" && str(item, "sk") == f.stuckSK {
				stuck = true
				f.stuckPKs = append(f.stuckPKs, str(item, "pk"))
			}
		}
		if stuck {
			f.rounds++
			if f.rounds > f.unprocessed {
				return nil, errors.New("fake: throttled for good")
			}
			return &dynamodb.BatchWriteItemOutput{UnprocessedItems: in.RequestItems}, nil
		}
		for _, r := range reqs {
			if r.PutRequest != nil {
				f.applyLocked(r.PutRequest.Item, nil)
			} else {
				f.applyLocked(nil, r.DeleteRequest.Key)
			}
		}
	}
	return &dynamodb.BatchWriteItemOutput{}, nil
}

// toEventAV converts an SDK attribute value to a Lambda stream one.
func toEventAV(t *testing.T, v types.AttributeValue) events.DynamoDBAttributeValue {
	t.Helper()
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *types.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = toEventAV(t, e)
		}
		return events.NewListAttribute(l)
	case *types.AttributeValueMemberM:
		m := map[string]events.DynamoDBAttributeValue{}
		for k, e := range v.Value {
			m[k] = toEventAV(t, e)
		}
		return events.NewMapAttribute(m)
	}
	t.Fatalf("unsupported attribute %T", v)
	return events.DynamoDBAttributeValue{}
}

// recordOf builds the stream record of a message going from old to new (nil:
// inserted or removed), with sequence number seq.
func recordOf(t *testing.T, seq int, old, new *table.Message) events.DynamoDBEventRecord {
	t.Helper()
	image := func(m *table.Message) map[string]events.DynamoDBAttributeValue {
		if m == nil {
			return nil
		}
		item, err := m.Item(ws, ch)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]events.DynamoDBAttributeValue{}
		for k, v := range item {
			out[k] = toEventAV(t, v)
		}
		return out
	}
	name, m := "MODIFY", new
	switch {
	case old == nil:
		name = "INSERT"
	case new == nil:
		name, m = "REMOVE", old
	}
	return events.DynamoDBEventRecord{EventName: name, Change: events.DynamoDBStreamRecord{
		Keys: map[string]events.DynamoDBAttributeValue{
			"pk": events.NewStringAttribute(table.MessagePK(ws, ch)),
			"sk": events.NewStringAttribute(table.MessageSK(m.Timestamp, m.MessageID)),
		},
		OldImage: image(old), NewImage: image(new),
		SequenceNumber: fmt.Sprintf("%021d", seq),
	}}
}

func msg(id string, minute int, labels ...string) *table.Message {
	return &table.Message{MessageID: id, Timestamp: t0.Add(time.Duration(minute) * time.Minute).UnixMilli(),
		Kind: "text", Text: "text of " + id, Labels: labels, CustomLabelIDs: []string{}}
}

func indexKeyOf(m *table.Message, label string) string {
	return table.LabelPK(ws, ch, label) + "\n" + table.MessageSK(m.Timestamp, m.MessageID)
}

// TestUnprocessedThenErrorFailsOnlyThatMessage: the index writes of one record
// come back unprocessed for several rounds and then fail. That record is
// reported, the later records of the same message in the batch are not
// applied, and the other messages' records are.
func TestUnprocessedThenErrorFailsOnlyThatMessage(t *testing.T) {
	a1 := msg("a", 1, "x", "y", "z")
	a2 := msg("a", 1, "x", "y", "z", "a2-only")
	b1 := msg("b", 2, "x")
	c1 := msg("c", 3, "x", "y")
	c2 := msg("c", 3, "y")
	recs := []events.DynamoDBEventRecord{
		recordOf(t, 1, nil, b1),
		recordOf(t, 2, nil, a1), // stuck
		recordOf(t, 3, nil, c1),
		recordOf(t, 4, a1, a2), // same message after the stuck one: not applied
		recordOf(t, 5, c1, c2),
	}
	const rounds = 3
	f := newFakeWrites()
	f.stuckSK, f.unprocessed = table.MessageSK(a1.Timestamp, a1.MessageID), rounds
	resp, err := labelindex.NewIndexer(f, "t", nil).Handle(context.Background(), events.DynamoDBEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	want := []events.DynamoDBBatchItemFailure{{ItemIdentifier: recs[1].Change.SequenceNumber}}
	if !slices.Equal(resp.BatchItemFailures, want) {
		t.Fatalf("BatchItemFailures %v, want %v", resp.BatchItemFailures, want)
	}
	if f.rounds != rounds+1 {
		t.Fatalf("%d BatchWriteItem calls for the stuck record, want %d unprocessed rounds and the failing call", f.rounds, rounds+1)
	}
	for _, pk := range f.stuckPKs {
		if strings.HasSuffix(pk, "#a2-only") {
			t.Fatal("the record after the failed one of the same message was applied")
		}
	}
	for _, k := range []string{indexKeyOf(a1, "x"), indexKeyOf(a1, "y"), indexKeyOf(a1, "z"), indexKeyOf(a2, "a2-only")} {
		if _, ok := f.applied[k]; ok {
			t.Fatalf("message a's item %q was written", k)
		}
	}
	// b inserted; c inserted then its label x removed.
	for _, k := range []string{indexKeyOf(b1, "x"), indexKeyOf(c2, "y")} {
		if _, ok := f.applied[k]; !ok {
			t.Fatalf("item %q missing: other messages' records must be applied; have %v", k, f.applied)
		}
	}
	if _, ok := f.applied[indexKeyOf(c1, "x")]; ok || !slices.Contains(f.deleted, indexKeyOf(c1, "x")) {
		t.Fatal("message c's removed label x was not deleted")
	}
}

// TestDeadlineReportsUnfinishedRecords: slow writes and an invocation deadline
// that cannot fit the batch. The handler returns before the deadline less its
// margin, reports exactly the records it did not apply, and applies the rest.
func TestDeadlineReportsUnfinishedRecords(t *testing.T) {
	var recs []events.DynamoDBEventRecord
	var msgs []*table.Message
	for i := range 20 {
		m := msg(fmt.Sprintf("m%02d", i), i, "x")
		msgs = append(msgs, m)
		recs = append(recs, recordOf(t, i+1, nil, m))
	}
	// A second record of the last message: once its first is left for the
	// retry, it must neither run nor be reported (Lambda retries from the first).
	last := msgs[len(msgs)-1]
	lastB := msg(last.MessageID, len(msgs)-1, "x", "late")
	recs = append(recs, recordOf(t, 100, last, lastB))

	f := newFakeWrites()
	f.delay = 100 * time.Millisecond
	ix := labelindex.NewIndexer(f, "t", nil)
	ix.Workers = 2
	ix.DeadlineMargin = 300 * time.Millisecond
	deadline := time.Now().Add(ix.DeadlineMargin + 450*time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	resp, err := ix.Handle(ctx, events.DynamoDBEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(deadline); left < ix.DeadlineMargin-100*time.Millisecond {
		t.Fatalf("returned %s before the deadline, want about the margin %s", left, ix.DeadlineMargin)
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	if len(failed) == 0 || len(failed) == len(msgs) {
		t.Fatalf("%d of %d messages failed: want some done and some left", len(failed), len(msgs))
	}
	for i, m := range msgs {
		_, applied := f.applied[indexKeyOf(m, "x")]
		if applied == failed[recs[i].Change.SequenceNumber] {
			t.Fatalf("message %s: applied %v, reported %v: want exactly one", m.MessageID, applied, !applied)
		}
	}
	if !failed[recs[len(msgs)-1].Change.SequenceNumber] {
		t.Fatal("the last message should not have been reached before the deadline")
	}
	if _, ok := f.applied[indexKeyOf(lastB, "late")]; ok || failed[recs[len(recs)-1].Change.SequenceNumber] {
		t.Fatal("the second record of a message left for the retry ran or was reported")
	}
}

// TestOversizeIndexItemIsSkipped: a message near DynamoDB's 400 KB limit whose
// copy under a long label's partition key goes over it. That label is skipped
// with an error log (without the message's text), the record does not fail,
// and the other label is indexed; DynamoDB Local accepts the item written and
// would reject the one skipped.
func TestOversizeIndexItemIsSkipped(t *testing.T) {
	long := strings.Repeat("l", 120)
	m := msg("big", 5, "a", long)
	items, err := labelindex.MessageItems(ws, ch, *m)
	if err != nil || len(items) != 2 {
		t.Fatal(items, err)
	}
	m.Text = strings.Repeat("x", labelindex.MaxItemBytes-labelindex.ItemSize(items[0])-10+len(m.Text))

	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	w := newWorld(t)
	resp, err := labelindex.NewIndexer(w.ddb, w.table, log).Handle(context.Background(),
		events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{recordOf(t, 1, nil, m)}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%v, %v: an oversize index item must not fail the record", resp.BatchItemFailures, err)
	}
	q := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Label: "a", Limit: 5}
	if got := walk(t, w.index, q); len(got) != 1 || got[0].Text != m.Text {
		t.Fatalf("label a: %d messages", len(got))
	}
	q.Label = long
	if got := walk(t, w.index, q); len(got) != 0 {
		t.Fatalf("the oversize label is indexed: %d messages", len(got))
	}
	if !strings.Contains(logs.String(), "400 KB") || !strings.Contains(logs.String(), long) {
		t.Fatalf("no error log naming the label: %s", logs.String())
	}
	if strings.Contains(logs.String(), "xxxxxxxx") {
		t.Fatal("the message text is in the log")
	}

	// The skipped item is really over the limit: DynamoDB refuses it.
	small, err := labelindex.MessageItems(ws, ch, *m)
	if err != nil || len(small) != 1 {
		t.Fatal(len(small), err)
	}
	big := maps.Clone(small[0])
	big["pk"] = &types.AttributeValueMemberS{Value: table.LabelPK(ws, ch, long)}
	if _, err := w.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &w.table, Item: big}); err == nil ||
		!strings.Contains(strings.ToLower(err.Error()), "size") {
		t.Fatalf("DynamoDB Local on the item the indexer skipped as oversize: %v, want a size error", err)
	}

	// Diff: the oversize label is reported, not put, and an earlier copy is deleted.
	smallMsg := *m
	smallMsg.Text = "short"
	sk := table.MessageSK(m.Timestamp, m.MessageID)
	c, err := labelindex.Diff(&labelindex.Stored{WorkspaceID: ws, MediumID: ch, SK: sk, Message: smallMsg},
		&labelindex.Stored{WorkspaceID: ws, MediumID: ch, SK: sk, Message: *m})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Puts) != 1 || len(c.Deletes) != 1 || len(c.TooLarge) != 1 || c.TooLarge[0].Label != long ||
		c.Deletes[0]["pk"].(*types.AttributeValueMemberS).Value != table.LabelPK(ws, ch, long) {
		t.Fatalf("diff: %d puts, %d deletes, too large %v", len(c.Puts), len(c.Deletes), c.TooLarge)
	}
}
