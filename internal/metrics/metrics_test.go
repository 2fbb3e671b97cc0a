package metrics_test

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/testkit/emfcheck"
)

var (
	latency  = metrics.Metric{Name: "Latency", Unit: metrics.Milliseconds}
	items    = metrics.Metric{Name: "Items", Unit: metrics.Count}
	failures = metrics.Metric{Name: "Failures", Unit: metrics.Count}
	byStage  = &metrics.Directive{Dimensions: [][]string{{metrics.DimStage}}, Metrics: []metrics.Metric{latency, items}}
	byReason = &metrics.Directive{Dimensions: [][]string{{metrics.DimStage, metrics.DimReason}, {metrics.DimStage}}, Metrics: []metrics.Metric{failures}}
)

var stamp = time.Date(2026, 6, 1, 12, 0, 0, 123e6, time.UTC)

// line writes doc as one JSON log line and parses it back as EMF.
func line(t *testing.T, level slog.Level, doc *metrics.Document, attrs ...slog.Attr) (emfcheck.Doc, string) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
	metrics.Log(context.Background(), log, slog.LevelInfo, "request", doc, attrs...)
	got, ok, err := emfcheck.Parse(buf.Bytes())
	if err != nil || !ok {
		t.Fatalf("not a valid EMF document (ok %v): %v\n%s", ok, err, buf.String())
	}
	return got, buf.String()
}

func TestDocument(t *testing.T) {
	doc := metrics.New(stamp)
	doc.Dimension(metrics.DimStage, "prod")
	doc.Put(byStage, latency, 12.5)
	doc.Put(byStage, items, 3)
	doc.Put(byStage, items, 4) // replaces
	doc.Dimension(metrics.DimReason, "stale_date")
	doc.Put(byReason, failures, 1)
	got, raw := line(t, slog.LevelInfo, doc, slog.String("apiKeyId", "key-0001"))

	if got.Timestamp != stamp.UnixMilli() {
		t.Errorf("Timestamp %d, want %d", got.Timestamp, stamp.UnixMilli())
	}
	want := map[string]emfcheck.Metric{
		"Latency":  {Namespace: "VipMessages", Name: "Latency", Unit: "Milliseconds", Value: 12.5, Dimensions: [][]string{{"Stage"}}},
		"Items":    {Namespace: "VipMessages", Name: "Items", Unit: "Count", Value: 4, Dimensions: [][]string{{"Stage"}}},
		"Failures": {Namespace: "VipMessages", Name: "Failures", Unit: "Count", Value: 1, Dimensions: [][]string{{"Stage", "Reason"}, {"Stage"}}},
	}
	if !reflect.DeepEqual(got.Metrics, want) {
		t.Errorf("metrics\n got %v\nwant %v", got.Metrics, want)
	}
	if got.Dimension("Stage") != "prod" || got.Dimension("Reason") != "stale_date" || got.Members["apiKeyId"] != "key-0001" {
		t.Errorf("members %v", got.Members)
	}
	// Integral values are written as integers.
	if !bytes.Contains([]byte(raw), []byte(`"Items":4,`)) {
		t.Errorf("Items not an integer: %s", raw)
	}
}

// A directive whose dimension has no valid value is left out (CloudWatch
// would reject the whole document); so are values that are not JSON numbers.
func TestInvalidPartsAreLeftOut(t *testing.T) {
	for _, reason := range []string{"", "   ", "caf\u00e9", "tab\there"} {
		doc := metrics.New(stamp)
		doc.Dimension(metrics.DimStage, "dev")
		doc.Put(byStage, latency, math.NaN())
		doc.Put(byStage, items, math.Inf(1))
		doc.Put(byStage, items, 2)
		doc.Dimension(metrics.DimReason, reason)
		doc.Put(byReason, failures, 1)
		got, _ := line(t, slog.LevelInfo, doc)
		if names := got.Names(); !reflect.DeepEqual(names, []string{"Items"}) {
			t.Errorf("reason %q: metrics %v, want only Items", reason, names)
		}
	}
}

// The metrics do not depend on the log level: the line is written even when
// the logger drops info lines.
func TestLogIgnoresLevel(t *testing.T) {
	doc := metrics.New(stamp)
	doc.Dimension(metrics.DimStage, "prod")
	doc.Put(byStage, items, 1)
	got, _ := line(t, slog.LevelError, doc)
	if _, ok := got.Metrics["Items"]; !ok {
		t.Fatal("no metric")
	}
}

// The format allows at most 100 metrics per directive.
func TestAtMost100MetricsPerDirective(t *testing.T) {
	many := &metrics.Directive{Dimensions: [][]string{{metrics.DimStage}}}
	for i := range 120 {
		many.Metrics = append(many.Metrics, metrics.Metric{Name: "M" + strconv.Itoa(i), Unit: metrics.Count})
	}
	doc := metrics.New(stamp)
	doc.Dimension(metrics.DimStage, "prod")
	for i, m := range many.Metrics {
		doc.Put(many, m, float64(i))
	}
	got, _ := line(t, slog.LevelInfo, doc)
	if len(got.Metrics) != 100 {
		t.Fatalf("%d metrics extracted, want 100", len(got.Metrics))
	}
}

func TestRecorder(t *testing.T) {
	var nilRec *metrics.Recorder
	nilRec.KeyCache(true) // no panic
	nilRec.CalledDynamoDB(time.Second)
	if metrics.FromContext(context.Background()) != nil {
		t.Fatal("recorder from nowhere")
	}
	r := &metrics.Recorder{}
	ctx := metrics.NewContext(context.Background(), r)
	metrics.FromContext(ctx).KeyCache(false)
	metrics.FromContext(ctx).WorkspaceCache(true)
	metrics.FromContext(ctx).WaitedSecretsManager(30 * time.Millisecond)
	metrics.FromContext(ctx).CalledDynamoDB(5 * time.Millisecond)
	metrics.FromContext(ctx).CalledDynamoDB(7 * time.Millisecond)
	want := metrics.Recorder{SecretsManager: 30 * time.Millisecond, SecretsManagerWaits: 1, DynamoDB: 12 * time.Millisecond,
		DynamoDBCalls: 2, KeyCacheMisses: 1, WorkspaceCacheHits: 1}
	if *r != want {
		t.Fatalf("got %+v, want %+v", *r, want)
	}
}

func BenchmarkDocument(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(discard{}, nil))
	b.ReportAllocs()
	for b.Loop() {
		doc := metrics.New(stamp)
		doc.Dimension(metrics.DimStage, "prod")
		doc.Put(byStage, latency, 12.5)
		doc.Put(byStage, items, 3)
		metrics.Log(context.Background(), log, slog.LevelInfo, "request", doc)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Names that need JSON escaping still make a valid document.
func TestOddNamesAreQuoted(t *testing.T) {
	odd := metrics.Metric{Name: `a"b\c`, Unit: metrics.Count}
	dir := &metrics.Directive{Dimensions: [][]string{{metrics.DimStage}}, Metrics: []metrics.Metric{odd}}
	doc := metrics.New(stamp)
	doc.Dimension(metrics.DimStage, "prod")
	doc.Put(dir, odd, 2)
	got, _ := line(t, slog.LevelInfo, doc)
	if got.Metrics[odd.Name].Value != 2 {
		t.Fatalf("metrics %v", got.Metrics)
	}
}

// Work on another goroutine joins the request's recorder: counts add up, and
// DynamoDB time that overlapped counts once (the longer of the two).
func TestRecorderJoin(t *testing.T) {
	r := &metrics.Recorder{DynamoDB: 10 * time.Millisecond, DynamoDBCalls: 1}
	mark := r.DynamoDB
	r.CalledDynamoDB(30 * time.Millisecond) // the page's Query
	check := &metrics.Recorder{}
	check.CalledDynamoDB(20 * time.Millisecond) // the access check, meanwhile
	check.WorkspaceCache(false)
	r.Join(check, mark)
	if r.DynamoDB != 40*time.Millisecond || r.DynamoDBCalls != 3 || r.WorkspaceCacheMisses != 1 {
		t.Fatalf("joined %+v, want 40ms over 3 calls and the cache miss", *r)
	}
	// The check took longer than the page: its time is the one waited.
	mark = r.DynamoDB
	r.CalledDynamoDB(5 * time.Millisecond)
	r.Join(&metrics.Recorder{DynamoDB: 25 * time.Millisecond, DynamoDBCalls: 1}, mark)
	if r.DynamoDB != 65*time.Millisecond || r.DynamoDBCalls != 5 {
		t.Fatalf("joined %+v, want 65ms over 5 calls", *r)
	}
}
