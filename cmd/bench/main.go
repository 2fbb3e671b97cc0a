// Command bench measures the label drill-down on DynamoDB Local, side by side in
// one run: the label index path against the FilterExpression path, over a busy
// channel (100,000 messages in 31 days, one label on 0.5% of them), walking every
// page of that label at limit 50; then the median latency of one label page
// against one unfiltered page. `make bench` runs it; it exits non-zero when a
// target (read/returned <= 1.05 on the index path, a label page within 1.2x of
// an unfiltered page) is missed.
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

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/messages"
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
	fmt.Printf("seeding %d messages over %d days, %d (%.2f%%) labelled %q, into DynamoDB Local at %s ...\n",
		n, days, labelled, 100*float64(labelled)/float64(n), label, endpoint)
	start := time.Now()
	if err := seed.NewWriter(client, table).WithWorkers(workers).Write(ctx, seed.Dataset{
		Messages: []seed.ChannelMessages{{WorkspaceID: ws, MediumID: ch, Messages: msgs}},
	}); err != nil {
		return err
	}
	fmt.Printf("seeded %d message items and %d index items in %s\n\n", n, labelled, time.Since(start).Round(time.Millisecond))

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

	ratio := float64(ix.read) / float64(ix.returned)
	readOK, latencyOK := ratio <= 1.05, float64(ml) <= 1.2*float64(mu)
	fmt.Printf("\ntargets: index read/returned %.3f <= 1.05: %s; label page %.2fx <= 1.2x unfiltered: %s\n",
		ratio, verdict(readOK), float64(ml)/float64(mu), verdict(latencyOK))
	if !readOK || !latencyOK {
		return errMissed
	}
	return nil
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
