package labelindex_test

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/table"
)

// The reproductions of the review: each left the index different from the
// table while every record it was given was applied.

// A REMOVE that the indexer never applied in its turn (it reached the
// dead-letter queue), the key written again, and the REMOVE delivered late (as
// replay-dlq does): the index ends as the table is, whatever the late record
// says.
func TestSkippedRemoveThenReinsert(t *testing.T) {
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"re-inserted without labels", nil},
		{"re-inserted with one of its labels", []string{"x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			m := *msg("m1", 1, "x", "y")
			w.put(t, m)
			w.step(t)

			w.remove(t, m.MessageID)
			skipped := w.batch(t, 1)
			w.pending = 0
			again := m
			again.Labels = c.labels
			w.put(t, again)
			w.deliver(t, w.batch(t, 1)) // the INSERT only
			w.pending = 0

			w.deliver(t, skipped)
			w.check(t)
		})
	}
}

// [INSERT +x, MODIFY −x] applied, then the INSERT replayed (a bisection's first
// half after a crash once its writes had landed): x must not come back, and a
// later text-only MODIFY must not keep it.
func TestReplayedInsertAfterModify(t *testing.T) {
	w := newWorld(t)
	m := *msg("m1", 1, "x", "keep")
	w.put(t, m)
	w.update(t, m.MessageID, func(m *table.Message) { m.Labels = []string{"keep"} })
	recs := w.step(t)
	if len(recs) != 2 || recs[0].EventName != "INSERT" {
		t.Fatalf("records %v", recs)
	}
	w.deliver(t, recs[:1])
	w.check(t)
	w.update(t, m.MessageID, func(m *table.Message) { m.Text = "edited" })
	w.step(t)
}

// Items under MSG# keys that are not messages: the mapping's filter passes
// their records, and the indexer must ignore them, not fail them.
func TestNonMessageItemsUnderMessageKeys(t *testing.T) {
	w := newWorld(t)
	m := *msg("m1", 1, "x")
	w.put(t, m)
	w.step(t)
	for _, k := range [][2]string{
		{"MSG#ws-1", "META"},
		{"MSG#ws-1#ch-1", "META"},
		{"MSG#ws-1#ch-1#thread-9", table.MessageSK(t0.UnixMilli(), "m9")},
	} {
		item := table.Key(k[0], k[1])
		item["labels"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}}}
		if _, err := w.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: item}); err != nil {
			t.Fatal(err)
		}
		w.pending++
	}
	w.update(t, m.MessageID, func(m *table.Message) { m.Labels = []string{"y"} })
	recs := w.batch(t, w.pending)
	w.pending = 0
	resp, err := w.indexer.Handle(context.Background(), events.DynamoDBEvent{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v, %v: records of items that are not messages must be ignored", resp.BatchItemFailures, err)
	}
	w.check(t)
}
