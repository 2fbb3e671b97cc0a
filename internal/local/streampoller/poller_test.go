package streampoller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func msgFilter(t *testing.T) Filter {
	t.Helper()
	f, err := ParseFilter(`{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"MSG#"}]}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// pks lists the records' partition keys without the MSG# prefix.
func pks(ev events.DynamoDBEvent) []string {
	var out []string
	for _, r := range ev.Records {
		out = append(out, strings.TrimPrefix(r.Change.Keys["pk"].String(), "MSG#"))
	}
	return out
}

// drain runs passes until one does nothing.
func drain(t *testing.T, p *Poller) {
	t.Helper()
	for range 100 {
		worked, err := p.pass(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !worked {
			return
		}
	}
	t.Fatal("the poller does not settle")
}

// A split: the parent's records come before its children's, whatever order
// DescribeStream lists the shards in and across its pages; a shard that
// appears later is found; the filter drops the other records.
func TestShardLineage(t *testing.T) {
	f := &fakeStreams{pageSize: 1}
	// Listed children first: the poller must not read a child before its parent.
	d := f.addShard("d", "b")
	b := f.addShard("b", "a")
	c := f.addShard("c", "a")
	a := f.addShard("a", "gone") // its parent was trimmed long ago
	for _, x := range []struct {
		s  *fakeShard
		pk string
	}{{a, "a1"}, {a, "a2"}, {b, "b1"}, {c, "c1"}, {d, "d1"}, {b, "b2"}, {c, "c2"}, {a, "a3"}} {
		f.put(x.s, "MSG#"+x.pk)
	}
	f.put(a, "LBL#x") // filtered out
	f.close(a)
	f.close(b)

	var got [][]string
	m := Mapping{Function: "Fn", BatchSize: 100, MaximumRetryAttempts: -1, StartingPosition: "TRIM_HORIZON", Filter: msgFilter(t), Timeout: time.Second}
	p := New(f, "arn", m, func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		got = append(got, pks(ev))
		return events.DynamoDBEventResponse{}, nil
	}, nil)
	drain(t, p)

	// A shard that shows up later (c splits) is read once its parent is done.
	e := f.addShard("e", "c")
	f.put(c, "MSG#c3")
	f.put(e, "MSG#e1")
	drain(t, p)
	if len(got) == 0 || !slices.Equal(got[0], []string{"a1", "a2", "a3"}) {
		t.Fatalf("first batch %v, want the parent's records a1 a2 a3", got)
	}
	var order []string
	for _, b := range got {
		order = append(order, b...)
	}
	before := func(x, y string) bool { return slices.Index(order, x) < slices.Index(order, y) }
	for _, want := range [][2]string{{"a3", "b1"}, {"a3", "c1"}, {"b1", "b2"}, {"b2", "d1"}, {"c1", "c2"}, {"c2", "c3"}} {
		if !before(want[0], want[1]) {
			t.Fatalf("%s delivered after %s: %v", want[0], want[1], got)
		}
	}
	if slices.Contains(order, "e1") {
		t.Fatalf("e1 delivered while its parent c is open: %v", got)
	}
	f.close(c)
	drain(t, p)
	order = nil
	for _, b := range got {
		order = append(order, b...)
	}
	want := []string{"a1", "a2", "a3", "b1", "b2", "c1", "c2", "c3", "d1", "e1"}
	if sorted := slices.Sorted(slices.Values(order)); !slices.Equal(sorted, want) {
		t.Fatalf("delivered %v, want each of %v once", order, want)
	}
	if !before("c3", "e1") {
		t.Fatalf("e1 before its parent's last record: %v", got)
	}
	if f.describe < 4 {
		t.Fatalf("%d DescribeStream calls: the pages were not all read", f.describe)
	}

	// ReadAll follows the same lineage.
	g := &fakeStreams{}
	child := g.addShard("child", "root")
	root := g.addShard("root", "")
	g.put(child, "MSG#c")
	g.put(root, "MSG#r")
	g.close(root)
	recs, err := NewStream(g, "arn", "TRIM_HORIZON", msgFilter(t)).ReadAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := pks(events.DynamoDBEvent{Records: recs}); !slices.Equal(got, []string{"r", "c"}) {
		t.Fatalf("ReadAll: %v, want r then c", got)
	}
}

func TestFailureHandling(t *testing.T) {
	const n = 8
	type call = []string
	r := func(is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, fmt.Sprintf("r%d", i))
		}
		return out
	}
	all := r(0, 1, 2, 3, 4, 5, 6, 7)
	// seqOf maps r<i> to its sequence number (records are put in order).
	seqOf := func(name string) string {
		var i int
		fmt.Sscanf(name, "r%d", &i)
		return fmt.Sprintf("%021d", i+1)
	}
	fail := func(names ...string) events.DynamoDBEventResponse {
		var resp events.DynamoDBEventResponse
		for _, x := range names {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seqOf(x)})
		}
		return resp
	}
	base := Mapping{Function: "Fn", BatchSize: 100, BisectBatchOnFunctionError: true, MaximumRetryAttempts: 5,
		ReportBatchItemFailures: true, StartingPosition: "TRIM_HORIZON", Timeout: time.Second}
	cases := []struct {
		name      string
		mapping   func(*Mapping)
		handler   func(ctx context.Context, call int, recs []string) (events.DynamoDBEventResponse, error)
		calls     []call
		discarded []string
	}{
		{
			name: "an invocation error bisects the batch until the poison record is alone, then it is retried and discarded",
			handler: func(_ context.Context, _ int, recs []string) (events.DynamoDBEventResponse, error) {
				if slices.Contains(recs, "r3") {
					return events.DynamoDBEventResponse{}, errors.New("boom")
				}
				return events.DynamoDBEventResponse{}, nil
			},
			calls:     []call{all, r(0, 1, 2, 3), r(0, 1), r(2, 3), r(2), r(3), r(3), r(3), r(4, 5, 6, 7)},
			discarded: r(3),
		},
		{
			name: "a partial failure retries from the lowest reported record",
			handler: func(_ context.Context, call int, _ []string) (events.DynamoDBEventResponse, error) {
				if call == 0 {
					return fail("r5", "r2"), nil
				}
				return events.DynamoDBEventResponse{}, nil
			},
			calls: []call{all, r(2, 3, 4, 5, 6, 7)},
		},
		{
			name:    "a record that always fails: the rest of the batch is discarded after the retries",
			mapping: func(m *Mapping) { m.MaximumRetryAttempts = 2 },
			handler: func(context.Context, int, []string) (events.DynamoDBEventResponse, error) {
				return fail("r5"), nil
			},
			calls:     []call{all, r(5, 6, 7), r(5, 6, 7)},
			discarded: r(5, 6, 7),
		},
		{
			name:    "without ReportBatchItemFailures a reported failure is a success",
			mapping: func(m *Mapping) { m.ReportBatchItemFailures = false },
			handler: func(context.Context, int, []string) (events.DynamoDBEventResponse, error) {
				return fail("r1"), nil
			},
			calls: []call{all},
		},
		{
			name:    "an itemIdentifier not in the batch fails the whole batch",
			mapping: func(m *Mapping) { m.BisectBatchOnFunctionError = false },
			handler: func(_ context.Context, call int, _ []string) (events.DynamoDBEventResponse, error) {
				if call == 0 {
					return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: ""}}}, nil
				}
				return events.DynamoDBEventResponse{}, nil
			},
			calls: []call{all, all},
		},
		{
			name:    "a panic is a function error",
			mapping: func(m *Mapping) { m.BisectBatchOnFunctionError = false },
			handler: func(_ context.Context, call int, _ []string) (events.DynamoDBEventResponse, error) {
				if call == 0 {
					panic("nil map")
				}
				return events.DynamoDBEventResponse{}, nil
			},
			calls: []call{all, all},
		},
		{
			name:    "running past the function's timeout is a function error",
			mapping: func(m *Mapping) { m.Timeout = 20 * time.Millisecond },
			handler: func(ctx context.Context, call int, _ []string) (events.DynamoDBEventResponse, error) {
				if call == 0 {
					<-ctx.Done()
				}
				return events.DynamoDBEventResponse{}, nil
			},
			calls: []call{all, r(0, 1, 2, 3), r(4, 5, 6, 7)},
		},
		{
			name:    "no retries: a failed batch is discarded at once",
			mapping: func(m *Mapping) { m.MaximumRetryAttempts = 0 },
			handler: func(context.Context, int, []string) (events.DynamoDBEventResponse, error) {
				return events.DynamoDBEventResponse{}, errors.New("boom")
			},
			calls:     []call{all},
			discarded: all,
		},
		{
			name:    "batches of BatchSize records",
			mapping: func(m *Mapping) { m.BatchSize = 3 },
			handler: func(context.Context, int, []string) (events.DynamoDBEventResponse, error) {
				return events.DynamoDBEventResponse{}, nil
			},
			calls: []call{r(0, 1, 2), r(3, 4, 5), r(6, 7)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeStreams{}
			s := f.addShard("s", "")
			for i := range n {
				f.put(s, fmt.Sprintf("MSG#r%d", i))
			}
			f.close(s)
			m := base
			if c.mapping != nil {
				c.mapping(&m)
			}
			var calls []call
			p := New(f, "arn", m, func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
				calls = append(calls, pks(ev))
				return c.handler(ctx, len(calls)-1, pks(ev))
			}, nil)
			p.RetryDelay = 0
			var discarded []string
			p.OnDiscard = func(d Discarded) {
				for i := range n {
					if seq := seqOf(fmt.Sprintf("r%d", i)); seq >= d.FirstSequence && seq <= d.LastSequence {
						discarded = append(discarded, fmt.Sprintf("r%d", i))
					}
				}
			}
			drain(t, p)
			if !slices.EqualFunc(calls, c.calls, slices.Equal) {
				t.Fatalf("invocations\n %v\nwant\n %v", calls, c.calls)
			}
			if !slices.Equal(discarded, c.discarded) {
				t.Fatalf("discarded %v, want %v", discarded, c.discarded)
			}
		})
	}
}

// Records wait for the batching window unless the batch is full; the debug
// log tells the lag of a record written after the shard's end was seen.
func TestBatchingWindowAndLagLog(t *testing.T) {
	f := &fakeStreams{}
	s := f.addShard("s", "")
	var logs bytes.Buffer
	var calls [][]string
	m := Mapping{Function: "Fn", BatchSize: 2, BatchingWindow: time.Second, MaximumRetryAttempts: -1, StartingPosition: "TRIM_HORIZON", Timeout: time.Second}
	p := New(f, "arn", m, func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		calls = append(calls, pks(ev))
		return events.DynamoDBEventResponse{}, nil
	}, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	p.stream.now = func() time.Time { return now }

	drain(t, p) // the shard's end seen at `now`
	now = now.Add(100 * time.Millisecond)
	f.put(s, "MSG#x1")
	drain(t, p)
	if len(calls) != 0 {
		t.Fatalf("invoked before the batching window ran out: %v", calls)
	}
	now = now.Add(time.Second)
	drain(t, p)
	if !slices.EqualFunc(calls, [][]string{{"x1"}}, slices.Equal) {
		t.Fatalf("after the window: %v", calls)
	}
	f.put(s, "MSG#x2")
	f.put(s, "MSG#x3")
	drain(t, p)
	if len(calls) != 2 {
		t.Fatalf("a full batch waited for the window: %v", calls)
	}

	var line struct {
		Msg                string
		LagMinMs, LagMaxMs *int64
	}
	first, _, _ := strings.Cut(logs.String(), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("%v: %s", err, logs.String())
	}
	// x1 was found 1.1 s after the end was seen, and done then.
	if line.LagMinMs == nil || line.LagMaxMs == nil || *line.LagMinMs != 1000 || *line.LagMaxMs != 1100 {
		t.Fatalf("lag log line %s", first)
	}
}
