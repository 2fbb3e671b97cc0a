// Command bench measures the label drill-down on DynamoDB Local, side by side in
// one run: the label index path against the FilterExpression path, over a busy
// channel (100,000 messages in 31 days, one label on 0.5% of them), walking every
// page of that label at limit 50; then the median latency of one label page
// against one unfiltered page; then the label overview (GET
// /vip-messages/labels's read, over the channel's 20 labels) against paging
// every label and against a COUNT Query of every label partition, for a
// date-only window and one that cuts a day at each edge. `make bench` runs
// it; it exits non-zero when a target (read/returned <= 1.05 on the index
// path, a label page within 1.2x of an unfiltered page, a date-only overview
// within 10 RCU) is missed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelcount"
	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/messages"
	schema "github.com/vip-messages/api/internal/table"
)

const (
	ws    = "ws-bench"
	ch    = "ch-bench"
	label = "cl-rare"
)

func main() {
	n := flag.Int("messages", 100_000, "messages in the channel")
	days := flag.Int("days", 31, "days the messages span (the query window)")
	share := flag.Float64("share", 0.005, "share of messages carrying the label")
	limit := flag.Int("limit", 50, "page size")
	reps := flag.Int("reps", 300, "timed pages per kind for the latency medians")
	workers := flag.Int("workers", 16, "concurrent BatchWriteItem calls while seeding")
	endpoint := flag.String("endpoint", "", "a running DynamoDB Local (default: start one)")
	flag.Parse()
	if err := run(*n, *days, *share, *limit, *reps, *workers, *endpoint); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type walkStats struct {
	pages, calls, returned, read int
	rcu                          float64
	elapsed                      time.Duration
}

func run(n, days int, share float64, limit, reps, workers int, endpoint string) error {
	ctx := context.Background()
	if endpoint == "" {
		srv, err := ddblocal.Start(ctx, ddblocal.Options{})
		if err != nil {
			return err
		}
		defer srv.Stop()
		endpoint = srv.Endpoint
	}
	client := ddblocal.NewClient(endpoint)
	table := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if err := ddblocal.CreateTable(ctx, client, table); err != nil {
		return err
	}

	from := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	until := from.Add(time.Duration(days) * 24 * time.Hour)
	rng := rand.New(rand.NewPCG(42, 42))
	msgs := seed.Generate(rng, from, until, n)
	for i := range msgs {
		// Only the measured label: other labels live in other partitions of the
		// index and take no part in these queries.
		msgs[i].Labels, msgs[i].CustomLabelIDs = []string{}, []string{}
	}
	// Exactly share of the messages, at random places.
	labelled := int(float64(n)*share + 0.5)
	for _, i := range rng.Perm(n)[:labelled] {
		msgs[i].CustomLabelIDs = []string{label}
	}
	// The label overview's labels: overviewLabels-1 more, each on 0.2%..3.8% of
	// the messages (label values), beside the measured custom label id.
	overview := []string{label}
	for j := range overviewLabels - 1 {
		l := fmt.Sprintf("lbl-%02d", j)
		overview = append(overview, l)
		for _, i := range rng.Perm(n)[:n*(2+2*j)/1000] {
			msgs[i].Labels = append(msgs[i].Labels, l)
		}
	}
	fmt.Printf("seeding %d messages over %d days, %d (%.2f%%) labelled %q, into DynamoDB Local at %s ...\n",
		n, days, labelled, 100*float64(labelled)/float64(n), label, endpoint)
	start := time.Now()
	if err := seed.NewWriter(client, table).WithWorkers(workers).Write(ctx, seed.Dataset{
		Messages: []seed.ChannelMessages{{WorkspaceID: ws, MediumID: ch, Messages: msgs}},
	}); err != nil {
		return err
	}
	indexed := 0
	for _, m := range msgs {
		indexed += len(m.Labels) + len(m.CustomLabelIDs)
	}
	fmt.Printf("seeded %d message items, %d index items and their counters in %s\n\n", n, indexed, time.Since(start).Round(time.Millisecond))

	index := messages.NewStore(client, table, messages.Budget{})
	filter := messages.NewStore(client, table, messages.Budget{}, messages.WithLabelPath(messages.LabelViaFilter))
	base := messages.Query{WorkspaceID: ws, MediumID: ch, From: from, Until: until, Limit: limit}
	lq := base
	lq.Label = label

	walk := func(s *messages.Store, q messages.Query) (walkStats, error) {
		var st walkStats
		t0 := time.Now()
		for {
			p, err := s.List(ctx, q)
			if err != nil {
				return st, err
			}
			st.pages++
			st.calls += p.Stats.Calls
			st.read += p.Stats.ItemsRead
			st.rcu += p.Stats.ReadCapacity
			st.returned += len(p.Messages)
			if !p.MayHaveMore {
				st.elapsed = time.Since(t0)
				return st, nil
			}
			q.Before = p.Next
		}
	}
	ix, err := walk(index, lq)
	if err != nil {
		return err
	}
	fx, err := walk(filter, lq)
	if err != nil {
		return err
	}
	if ix.returned != labelled || fx.returned != labelled {
		return fmt.Errorf("walks returned %d (index) and %d (filter), want %d", ix.returned, fx.returned, labelled)
	}

	fmt.Printf("label walk %q, every page at limit %d (%d matches):\n", label, limit, labelled)
	fmt.Printf("  %-18s %6s %6s %9s %9s %14s %10s %10s\n", "path", "pages", "calls", "read", "returned", "read/returned", "RCU", "time")
	for _, r := range []struct {
		name string
		st   walkStats
	}{{"index", ix}, {"FilterExpression", fx}} {
		fmt.Printf("  %-18s %6d %6d %9d %9d %14.3f %10.1f %10s\n", r.name, r.st.pages, r.st.calls, r.st.read, r.st.returned,
			float64(r.st.read)/float64(r.st.returned), r.st.rcu, r.st.elapsed.Round(time.Millisecond))
	}

	// Latency: one page, interleaved so that both kinds see the same machine state.
	// Label pages start at the page boundaries of the label walk; unfiltered pages
	// at the same positions.
	// Only starts of full label pages, so that both kinds return limit items.
	var starts []*messages.Position
	q := lq
	for {
		p, err := index.List(ctx, q)
		if err != nil {
			return err
		}
		if len(p.Messages) == limit || len(starts) == 0 {
			starts = append(starts, q.Before)
		}
		if !p.MayHaveMore {
			break
		}
		q.Before = p.Next
	}
	timeOne := func(s *messages.Store, q messages.Query) (time.Duration, error) {
		t0 := time.Now()
		_, err := s.List(ctx, q)
		return time.Since(t0), err
	}
	var lab, unf, flt []time.Duration
	for i := range reps + 20 {
		lq.Before, base.Before = starts[i%len(starts)], starts[i%len(starts)]
		dl, err := timeOne(index, lq)
		if err != nil {
			return err
		}
		du, err := timeOne(index, base)
		if err != nil {
			return err
		}
		if i < 20 {
			continue // warm-up
		}
		lab, unf = append(lab, dl), append(unf, du)
		if i < 20+reps/10 {
			df, err := timeOne(filter, lq)
			if err != nil {
				return err
			}
			flt = append(flt, df)
		}
	}
	ml, mu, mf := median(lab), median(unf), median(flt)
	fmt.Printf("\nmedian latency of one page at limit %d (%d pages each, DynamoDB Local):\n", limit, reps)
	fmt.Printf("  unfiltered page          %8s\n", mu.Round(10*time.Microsecond))
	fmt.Printf("  label page, index        %8s  (%.2fx unfiltered)\n", ml.Round(10*time.Microsecond), float64(ml)/float64(mu))
	fmt.Printf("  label page, filter       %8s  (%.2fx unfiltered, %d pages)\n", mf.Round(10*time.Microsecond), float64(mf)/float64(mu), len(flt))

	countsOK, err := overviewBench(ctx, client, table, index, base, overview)
	if err != nil {
		return err
	}

	ratio := float64(ix.read) / float64(ix.returned)
	readOK, latencyOK := ratio <= 1.05, float64(ml) <= 1.2*float64(mu)
	fmt.Printf("\ntargets: index read/returned %.3f <= 1.05: %s; label page %.2fx <= 1.2x unfiltered: %s; %s\n",
		ratio, verdict(readOK), float64(ml)/float64(mu), verdict(latencyOK), countsOK)
	if !readOK || !latencyOK || !countsOK.met {
		return errMissed
	}
	return nil
}

// overviewLabels is the number of labels of the overview's channel.
const overviewLabels = 20

// maxOverviewRCU is the target of a date-only 31-day overview of 20 labels.
const maxOverviewRCU = 10

type countsVerdict struct {
	rcu float64
	met bool
}

func (v countsVerdict) String() string {
	return fmt.Sprintf("date-only overview %.1f RCU <= %d: %s", v.rcu, maxOverviewRCU, verdict(v.met))
}

// overviewBench measures GET /vip-messages/labels's read (labelcount) against
// the ways to get the same numbers without counters, side by side: paging
// /vip-messages?label= for every label (at the maximum limit, 200), and a
// COUNT Query of every label partition over the window; for a date-only
// window and for one whose edges cut a day. Every way must give the same
// counts.
func overviewBench(ctx context.Context, client *dynamodb.Client, table string, index *messages.Store, base messages.Query, labels []string) (countsVerdict, error) {
	counts := labelcount.NewStore(client, table)
	type row struct {
		name                  string
		requests, calls, read int
		rcu                   float64
		elapsed               time.Duration
		byLabel               map[string]int64
	}
	windows := []struct {
		name        string
		from, until time.Time
	}{
		{"date-only", base.From, base.Until},
		{"date-time, both edges inside a day", base.From.Add(7*time.Hour + 13*time.Minute), base.Until.Add(-5*time.Hour - 31*time.Minute)},
	}
	var v countsVerdict
	for wi, w := range windows {
		var rows []row
		cq := labelcount.Query{WorkspaceID: ws, MediumID: ch, From: w.from, Until: w.until}
		// Once unmeasured, as the paging below runs on a warm store.
		if _, err := counts.Count(ctx, cq); err != nil {
			return v, err
		}
		t0 := time.Now()
		c, err := counts.Count(ctx, cq)
		if err != nil {
			return v, err
		}
		r := row{name: "counts endpoint", requests: 1, calls: c.Stats.Calls, read: c.Stats.ItemsRead, rcu: c.Stats.ReadCapacity,
			elapsed: time.Since(t0), byLabel: map[string]int64{}}
		for _, l := range c.Labels {
			r.byLabel[l.Label] = l.Count
		}
		rows = append(rows, r)
		if wi == 0 {
			v = countsVerdict{rcu: r.rcu, met: r.rcu <= maxOverviewRCU}
		}

		r = row{name: "paging ?label=", byLabel: map[string]int64{}}
		t0 = time.Now()
		for _, l := range labels {
			q := base
			q.From, q.Until, q.Label, q.Limit, q.Before = w.from, w.until, l, 200, nil
			for {
				p, err := index.List(ctx, q)
				if err != nil {
					return v, err
				}
				r.requests++
				r.calls += p.Stats.Calls
				r.read += p.Stats.ItemsRead
				r.rcu += p.Stats.ReadCapacity
				r.byLabel[l] += int64(len(p.Messages))
				if !p.MayHaveMore {
					break
				}
				q.Before = p.Next
			}
		}
		r.elapsed = time.Since(t0)
		rows = append(rows, r)

		r = row{name: "COUNT per label", byLabel: map[string]int64{}}
		t0 = time.Now()
		for _, l := range labels {
			in := schema.Between(table, schema.LabelPK(ws, ch, l), schema.MessageSKAt(w.from.UnixMilli()), schema.MessageSKAt(w.until.UnixMilli()))
			in.Select, in.ReturnConsumedCapacity = types.SelectCount, types.ReturnConsumedCapacityTotal
			for {
				out, err := client.Query(ctx, in)
				if err != nil {
					return v, err
				}
				r.requests++
				r.calls++
				r.read += int(out.ScannedCount)
				r.byLabel[l] += int64(out.Count)
				if out.ConsumedCapacity != nil {
					r.rcu += aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
				}
				if out.LastEvaluatedKey == nil {
					break
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		}
		r.elapsed = time.Since(t0)
		rows = append(rows, r)

		for _, other := range rows[1:] {
			for _, l := range labels {
				if other.byLabel[l] != rows[0].byLabel[l] {
					return v, fmt.Errorf("%s window, label %s: the counts endpoint says %d, %s %d", w.name, l, rows[0].byLabel[l], other.name, other.byLabel[l])
				}
			}
		}
		fmt.Printf("\nlabel overview, %s window of %s (%d labels, %d messages; every way agrees on every count):\n",
			w.name, w.until.Sub(w.from).Round(time.Minute), len(labels), c.Total)
		fmt.Printf("  %-16s %9s %6s %11s %10s %10s\n", "way", "requests", "calls", "items read", "RCU", "time")
		for _, r := range rows {
			fmt.Printf("  %-16s %9d %6d %11d %10.1f %10s\n", r.name, r.requests, r.calls, r.read, r.rcu, r.elapsed.Round(time.Millisecond))
		}
		fmt.Printf("  the counts endpoint: %.0fx fewer requests, %.0fx fewer RCU than paging\n",
			float64(rows[1].requests)/float64(rows[0].requests), rows[1].rcu/max(rows[0].rcu, 0.5))
	}
	return v, nil
}

// errMissed makes the command (and `make bench`) exit non-zero.
var errMissed = errors.New("a target was missed")

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
