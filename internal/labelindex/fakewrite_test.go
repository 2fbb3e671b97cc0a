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
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/table"
)

// fakeWrites is a labelindex.API in memory: a table of items by pk "\n" sk,
// with the conditions the indexer writes under. Every write of an index item
// of the message with sort key stuckSK fails (throttled for good); delay slows
// every call (and gives up when the context ends, applying nothing).
type fakeWrites struct {
	stuckSK string
	delay   time.Duration

	mu       sync.Mutex
	items    map[string]map[string]types.AttributeValue
	applied  map[string]string // index pk "\n" sk -> messageId of the item put
	deleted  []string
	stuckPKs []string // index pks of the stuck message's writes seen
}

func newFakeWrites() *fakeWrites {
	return &fakeWrites{items: map[string]map[string]types.AttributeValue{}, applied: map[string]string{}}
}

// store puts messages into the fake table, as they are "now".
func (f *fakeWrites) store(t *testing.T, ms ...*table.Message) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range ms {
		item, err := m.Item(ws, ch)
		if err != nil {
			t.Fatal(err)
		}
		f.items[str(item, "pk")+"\n"+str(item, "sk")] = item
	}
}

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

// write applies one conditional put or delete; f.mu is held.
func (f *fakeWrites) write(put, key map[string]types.AttributeValue, cond *string) error {
	if put != nil {
		key = put
	}
	k := str(key, "pk") + "\n" + str(key, "sk")
	if f.stuckSK != "" && str(key, "sk") == f.stuckSK {
		f.stuckPKs = append(f.stuckPKs, str(key, "pk"))
		return errors.New("fake: throttled for good")
	}
	_, exists := f.items[k]
	switch aws.ToString(cond) {
	case "attribute_exists(pk)":
		if !exists {
			return &types.ConditionalCheckFailedException{}
		}
	case "attribute_not_exists(pk)":
		if exists {
			return &types.ConditionalCheckFailedException{}
		}
	case "":
	default:
		return fmt.Errorf("fake: condition %q", *cond)
	}
	if put != nil {
		f.items[k] = put
		f.applied[k] = str(put, "messageId")
	} else {
		delete(f.items, k)
		delete(f.applied, k)
		f.deleted = append(f.deleted, k)
	}
	return nil
}

func (f *fakeWrites) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &dynamodb.PutItemOutput{}, f.write(in.Item, nil, in.ConditionExpression)
}

func (f *fakeWrites) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &dynamodb.DeleteItemOutput{}, f.write(nil, in.Key, in.ConditionExpression)
}

func (f *fakeWrites) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
	for name, ka := range in.RequestItems {
		if !aws.ToBool(ka.ConsistentRead) {
			return nil, errors.New("fake: the indexer reads messages strongly consistent")
		}
		for _, k := range ka.Keys {
			if it, ok := f.items[str(k, "pk")+"\n"+str(k, "sk")]; ok {
				out.Responses[name] = append(out.Responses[name], maps.Clone(it))
			}
		}
	}
	return out, nil
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

// TestFailedMessageFailsAlone: the index writes of one message fail. Its first
// record is reported (Lambda retries from it, so its later records come
// again), none of its items is written, and the other messages are
// reconciled with the table.
func TestFailedMessageFailsAlone(t *testing.T) {
	a1 := msg("a", 1, "x", "y", "z")
	a2 := msg("a", 1, "x", "y", "z", "a2-only")
	b1 := msg("b", 2, "x")
	c1 := msg("c", 3, "x", "y")
	c2 := msg("c", 3, "y")
	recs := []events.DynamoDBEventRecord{
		recordOf(t, 1, nil, b1),
		recordOf(t, 2, nil, a1), // stuck
		recordOf(t, 3, nil, c1),
		recordOf(t, 4, a1, a2), // same message after the stuck one
		recordOf(t, 5, c1, c2),
	}
	f := newFakeWrites()
	f.store(t, a2, b1, c2)
	f.stuckSK = table.MessageSK(a1.Timestamp, a1.MessageID)
	resp, err := labelindex.NewIndexer(f, "t", nil).Handle(context.Background(), events.DynamoDBEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	want := []events.DynamoDBBatchItemFailure{{ItemIdentifier: recs[1].Change.SequenceNumber}}
	if !slices.Equal(resp.BatchItemFailures, want) {
		t.Fatalf("BatchItemFailures %v, want %v", resp.BatchItemFailures, want)
	}
	if len(f.stuckPKs) != 1 {
		t.Fatalf("writes of the failing message after its first failure: %v", f.stuckPKs)
	}
	for _, k := range []string{indexKeyOf(a1, "x"), indexKeyOf(a1, "y"), indexKeyOf(a1, "z"), indexKeyOf(a2, "a2-only")} {
		if _, ok := f.applied[k]; ok {
			t.Fatalf("message a's item %q was written", k)
		}
	}
	// b inserted; c inserted then its label x removed: as the table is.
	for _, k := range []string{indexKeyOf(b1, "x"), indexKeyOf(c2, "y")} {
		if _, ok := f.applied[k]; !ok {
			t.Fatalf("item %q missing: other messages must be reconciled; have %v", k, f.applied)
		}
	}
	if _, ok := f.applied[indexKeyOf(c1, "x")]; ok {
		t.Fatal("message c's removed label x is indexed")
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
	// A second record of the last message: once the message is left for the
	// retry, it must not be reported (Lambda retries from its first record).
	last := msgs[len(msgs)-1]
	lastB := msg(last.MessageID, len(msgs)-1, "x", "late")
	recs = append(recs, recordOf(t, 100, last, lastB))

	f := newFakeWrites()
	f.store(t, msgs[:len(msgs)-1]...)
	f.store(t, lastB)
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
		// A message is done with its last write, its presence marker's.
		_, applied := f.applied[table.CounterPK(ws, ch)+"\n"+table.MarkerSK(table.MessageSK(m.Timestamp, m.MessageID))]
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
	w.put(t, *m)
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

	// Plan: the oversize label is reported, not put, and any earlier copy is deleted.
	k := labelindex.MessageKey{WorkspaceID: ws, MediumID: ch, SK: table.MessageSK(m.Timestamp, m.MessageID)}
	targets, over, err := labelindex.Plan(k, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 2 || targets[0].Label != "a" || targets[0].Item == nil || targets[1].Label != long || targets[1].Item != nil ||
		len(over) != 1 || over[0].Label != long {
		t.Fatalf("plan: %v, too large %v", targets, over)
	}
}

// TransactWriteItems applies the puts and deletes of a transaction with their
// conditions, all or nothing; counter updates are accepted and not kept.
func (f *fakeWrites) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	reasons := make([]types.CancellationReason, len(in.TransactItems))
	for i, it := range in.TransactItems {
		var err error
		switch {
		case it.Put != nil:
			err = f.write(it.Put.Item, nil, it.Put.ConditionExpression)
		case it.Delete != nil:
			err = f.write(nil, it.Delete.Key, it.Delete.ConditionExpression)
		}
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			reasons[i].Code = aws.String("ConditionalCheckFailed")
			return nil, &types.TransactionCanceledException{CancellationReasons: reasons}
		}
		if err != nil {
			return nil, err
		}
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}
