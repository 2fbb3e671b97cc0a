// Package labelcount answers the label overview (GET /vip-messages/labels):
// for a channel and a time window, the number of messages and, for every
// label that occurs, the number of messages carrying it, read from the
// counters the label indexer keeps (labelindex, counters.go) instead of from
// the messages.
//
// A window [from, until) covers whole UTC days, answered by the days' counter
// items (one Query of the channel's counter partition for all of them), and at
// most two cut days at its edges. A cut day is counted directly, by COUNT
// Queries of its part of the window (or of the part outside it, subtracted
// from the day's counters, whichever part is shorter): the presence markers
// for the total, each label's index partition for the labels the day's
// counters hold. docs/label-index.md ("Counts") has the costs.
package labelcount

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/table"
)

// Kinds of a label.
const (
	Builtin = "builtin"
	Custom  = "custom"
)

// Query selects a channel's window.
type Query struct {
	WorkspaceID, MediumID string
	// From is inclusive and Until exclusive; both are rounded up to the
	// millisecond, as messages.Query's.
	From, Until time.Time
}

// Label is one label's count.
type Label struct {
	Label string `json:"label"`
	Kind  string `json:"kind"`
	Count int64  `json:"count"`
}

// Counts is the overview of a window: Labels by count, highest first, then by
// name; labels with no message in the window are left out.
type Counts struct {
	Total  int64   `json:"total"`
	Labels []Label `json:"labels"`
	Stats  Stats   `json:"-"`
}

// Stats is what a count cost.
type Stats struct {
	Calls        int
	ItemsRead    int
	ReadCapacity float64
	// CutDays is the number of days at the window's edges counted directly.
	CutDays int
}

// QueryAPI is the part of the DynamoDB client a Store uses.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store counts from one table.
type Store struct {
	client QueryAPI
	table  string
	// Workers bounds the COUNT Queries of cut days run at once.
	Workers int
}

// NewStore returns a Store over table.
func NewStore(client QueryAPI, table string) *Store {
	return &Store{client: client, table: table, Workers: 8}
}

const dayMS = int64(24 * time.Hour / time.Millisecond)

// day is what a day's counter items hold, summed over its shards.
type day struct {
	total  int64
	labels map[string]int64
}

// Count returns the overview of q's window.
func (s *Store) Count(ctx context.Context, q Query) (Counts, error) {
	out := Counts{Labels: []Label{}}
	a, b := ceilMS(q.From), ceilMS(q.Until)
	if b <= a {
		return out, nil
	}
	first, last := a/dayMS, (b-1)/dayMS
	var st stats
	days, custom, err := s.days(ctx, q, first, last, &st)
	if err != nil {
		return Counts{}, err
	}
	// Cut days: counted directly, their counters replaced.
	for _, d := range slices.Compact([]int64{first, last}) {
		lo, hi := max(a, d*dayMS), min(b, (d+1)*dayMS)
		if lo == d*dayMS && hi == (d+1)*dayMS {
			continue
		}
		st.cut++
		full := days[d]
		if full.labels == nil {
			// No message that day, in or out of the window.
			delete(days, d)
			continue
		}
		labels := make([]string, 0, len(full.labels))
		for l, n := range full.labels {
			if n != 0 {
				labels = append(labels, l)
			}
		}
		var part day
		if hi-lo <= dayMS/2 {
			part, err = s.direct(ctx, q, labels, [][2]int64{{lo, hi}}, &st)
		} else {
			var outside day
			outside, err = s.direct(ctx, q, labels, [][2]int64{{d * dayMS, lo}, {hi, (d + 1) * dayMS}}, &st)
			part = day{total: full.total - outside.total, labels: map[string]int64{}}
			for l, n := range full.labels {
				part.labels[l] = n - outside.labels[l]
			}
		}
		if err != nil {
			return Counts{}, err
		}
		days[d] = part
	}
	sum := map[string]int64{}
	for _, dd := range days {
		out.Total += dd.total
		for l, n := range dd.labels {
			sum[l] += n
		}
	}
	for l, n := range sum {
		if n <= 0 {
			continue
		}
		kind := Builtin
		if custom[l] {
			kind = Custom
		}
		out.Labels = append(out.Labels, Label{Label: l, Kind: kind, Count: n})
	}
	slices.SortFunc(out.Labels, func(x, y Label) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Label, y.Label))
	})
	out.Stats = Stats{Calls: st.calls, ItemsRead: st.items, ReadCapacity: st.rcu, CutDays: st.cut}
	return out, nil
}

type stats struct {
	mu                sync.Mutex
	calls, items, cut int
	rcu               float64
}

func (st *stats) add(out *dynamodb.QueryOutput) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.calls++
	st.items += int(out.ScannedCount)
	if out.ConsumedCapacity != nil {
		st.rcu += aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
}

// days reads the counter items of the days first..last (epoch days) in one
// Query (more pages only past 1 MB), summed by day; custom holds the labels
// any of them marks as custom label ids.
func (s *Store) days(ctx context.Context, q Query, first, last int64, st *stats) (map[int64]day, map[string]bool, error) {
	lo, hi := table.DaySKRange(time.UnixMilli(first*dayMS), time.UnixMilli(last*dayMS))
	in := table.Between(s.table, table.CounterPK(q.WorkspaceID, q.MediumID), lo, hi)
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	days, custom := map[int64]day{}, map[string]bool{}
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, nil, fmt.Errorf("labelcount: query counters: %w", clienterr.Outage(err))
		}
		st.add(out)
		for _, it := range out.Items {
			sk, _ := it[table.SortKeyAttr].(*types.AttributeValueMemberS)
			if sk == nil {
				continue
			}
			t, _, ok := table.ParseDaySK(sk.Value)
			if !ok {
				continue
			}
			d := days[t.UnixMilli()/dayMS]
			if d.labels == nil {
				d.labels = map[string]int64{}
			}
			for name, v := range it {
				n, isNum := v.(*types.AttributeValueMemberN)
				if name == table.CustomAttr {
					if ss, ok := v.(*types.AttributeValueMemberSS); ok {
						for _, l := range ss.Value {
							custom[l] = true
						}
					}
					continue
				}
				if !isNum {
					continue
				}
				c, err := strconv.ParseInt(n.Value, 10, 64)
				if err != nil {
					return nil, nil, fmt.Errorf("labelcount: counter %s %s: %w", sk.Value, name, err)
				}
				if name == table.TotalAttr {
					d.total += c
				} else if l, ok := table.LabelOfCountAttr(name); ok {
					d.labels[l] += c
				}
			}
			days[t.UnixMilli()/dayMS] = d
		}
		if out.LastEvaluatedKey == nil {
			return days, custom, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// direct counts the messages and the index items of labels in the ranges
// [lo, hi) of epoch ms, with COUNT Queries (concurrently, Workers at a time).
func (s *Store) direct(ctx context.Context, q Query, labels []string, ranges [][2]int64, st *stats) (day, error) {
	type job struct {
		label  string // "" for the total
		lo, hi int64
	}
	var jobs []job
	for _, r := range ranges {
		if r[1] <= r[0] {
			continue
		}
		jobs = append(jobs, job{"", r[0], r[1]})
		for _, l := range labels {
			jobs = append(jobs, job{l, r[0], r[1]})
		}
	}
	res := day{labels: map[string]int64{}}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, s.Workers))
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pk := table.CounterPK(q.WorkspaceID, q.MediumID)
			lo, hi := table.MarkerSKAt(j.lo), table.MarkerSKAt(j.hi)
			if j.label != "" {
				pk = table.LabelPK(q.WorkspaceID, q.MediumID, j.label)
				lo, hi = table.MessageSKAt(j.lo), table.MessageSKAt(j.hi)
			}
			n, err := s.count(ctx, pk, lo, hi, st)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if j.label == "" {
				res.total += n
			} else {
				res.labels[j.label] += n
			}
		}()
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// count is the number of items of partition pk with sk in [lo, hi): no key
// equals a bare time position, so BETWEEN excludes hi.
func (s *Store) count(ctx context.Context, pk, lo, hi string, st *stats) (int64, error) {
	in := table.Between(s.table, pk, lo, hi)
	in.Select, in.ReturnConsumedCapacity = types.SelectCount, types.ReturnConsumedCapacityTotal
	var n int64
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("labelcount: count: %w", clienterr.Outage(err))
		}
		st.add(out)
		n += int64(out.Count)
		if out.LastEvaluatedKey == nil {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ceilMS is t in epoch milliseconds, rounded up (as package messages does).
func ceilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}
