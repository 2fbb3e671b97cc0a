package labelindex_test

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/table"
	"github.com/vip-messages/api/internal/testkit/emfcheck"
)

// The indexer writes one EMF document per invocation: records done, ignored
// and unchanged, messages read, index items written and deleted, records
// reported failed, and the lag of the newest record applied (a failed
// record's age is not the index's lag).
func TestIndexerMetrics(t *testing.T) {
	a1 := msg("a", 1, "x", "y", "z")
	b1 := msg("b", 2, "x")
	c1 := msg("c", 3, "x", "y")
	c2 := msg("c", 3, "y")
	d1 := msg("d", 4, "x")
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	meta := recordOf(t, 6, nil, d1)
	meta.Change.Keys = map[string]events.DynamoDBAttributeValue{"pk": events.NewStringAttribute("MSG#" + ws), "sk": events.NewStringAttribute("META")}
	meta.Change.NewImage = meta.Change.Keys
	recs := []events.DynamoDBEventRecord{
		recordOf(t, 1, nil, b1),
		recordOf(t, 2, nil, a1), // fails, and is the newest of all
		recordOf(t, 3, nil, c1),
		recordOf(t, 4, c1, c2), // y created, x (indexed before) deleted
		recordOf(t, 5, d1, d1), // nothing indexed changed
		meta,                   // not a message
	}
	created := []time.Duration{-90 * time.Second, -time.Second, -80 * time.Second, -42 * time.Second, -50 * time.Second, -60 * time.Second}
	for i := range recs {
		recs[i].Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: now.Add(created[i])}
	}
	f := newFakeWrites()
	f.store(t, a1, b1, c2, d1)
	cx, err := labelindex.MessageItems(ws, ch, *c1)
	if err != nil {
		t.Fatal(err)
	}
	f.items[indexKeyOf(c1, "x")] = cx[0]
	f.stuckSK = table.MessageSK(a1.Timestamp, a1.MessageID)

	var logs bytes.Buffer
	// At error level: the metrics line is written anyway.
	ix := labelindex.NewIndexer(f, "t", slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError})))
	ix.Stage, ix.Now = "staging", func() time.Time { return now }
	resp, err := ix.Handle(context.Background(), events.DynamoDBEvent{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("resp %v, err %v", resp, err)
	}
	docs, err := emfcheck.Lines(logs.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("%d documents, want 1:\n%s", len(docs), logs.String())
	}
	d := docs[0]
	got := map[string]float64{}
	for name, m := range d.Metrics {
		if m.Namespace != "VipMessages" || !reflect.DeepEqual(m.Dimensions, [][]string{{"Stage"}}) {
			t.Errorf("%s: namespace %s dimensions %v", name, m.Namespace, m.Dimensions)
		}
		if !labelindex.Directive.Has(metricOf(name, m.Unit)) {
			t.Errorf("%s (%s) is not a declared indexer metric", name, m.Unit)
		}
		got[name] = m.Value
	}
	want := map[string]float64{
		"IndexRecordsProcessed":  5, // all but a's
		"IndexRecordsIgnored":    1, // MSG#ws-1 / META
		"IndexRecordsUnchanged":  1, // d
		"IndexMessagesRead":      3, // a, b, c
		"IndexItemsWritten":      2, // b: x; c: y
		"IndexItemsDeleted":      1, // c: x
		"IndexOversizeSkips":     0,
		"IndexBatchItemFailures": 1,
		"IndexLag":               42000,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	if d.Dimension("Stage") != "staging" || d.Timestamp != now.UnixMilli() {
		t.Errorf("Stage %q, Timestamp %d", d.Dimension("Stage"), d.Timestamp)
	}
	if strings.Contains(logs.String(), "text of") {
		t.Error("a message text is in the log")
	}
}

// Without a Stage there is no document, and the summary line follows the level.
func TestIndexerWithoutStageWritesNoMetrics(t *testing.T) {
	var logs bytes.Buffer
	f := newFakeWrites()
	f.store(t, msg("a", 1, "x"))
	ix := labelindex.NewIndexer(f, "t", slog.New(slog.NewJSONHandler(&logs, nil)))
	if _, err := ix.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{recordOf(t, 1, nil, msg("a", 1, "x"))}}); err != nil {
		t.Fatal(err)
	}
	if docs, err := emfcheck.Lines(logs.Bytes()); err != nil || len(docs) != 0 || !strings.Contains(logs.String(), `"records":1`) {
		t.Fatalf("docs %v, err %v, logs %s", docs, err, logs.String())
	}
}

func metricOf(name, unit string) metrics.Metric {
	return metrics.Metric{Name: name, Unit: metrics.Unit(unit)}
}
