package rebuild

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/table"
)

// The recount: the third phase of a channel rebuild. The first two make the
// index and the presence markers match the messages with counted transitions,
// which keep the counters right only if they were right before: a table whose
// index predates the counters, or an item changed by hand, leaves them off.
// So the rebuild then counts, day by day, the index items and markers of each
// counter item and writes the counts, under optimistic concurrency: every
// counted transition adds 1 to the item's version (table.VersionAttr), and a
// recount's write requires the version it read before counting. A live
// transition in between fails the write, and the day is counted again.

const dayMS = int64(24 * time.Hour / time.Millisecond)

// recount recounts the counters of every day of the channel that has
// messages or counter items.
func (r *Rebuilder) recount(ctx context.Context, workspaceID, mediumID string, p *Progress) error {
	days := map[int64]bool{}
	msgPK, cntPK := table.MessagePK(workspaceID, mediumID), table.CounterPK(workspaceID, mediumID)
	items, err := r.keys(ctx, msgPK, table.MessageSKAt(0), table.MessageSKAt(9_999_999_999_999))
	if err != nil {
		return err
	}
	for _, sk := range items {
		if d, ok := table.MessageDay(sk); ok {
			days[d.UnixMilli()/dayMS] = true
		}
	}
	lo, hi := table.DaySKRange(time.UnixMilli(0), time.UnixMilli(9_999_999_999_999))
	counters, err := r.keys(ctx, cntPK, lo, hi)
	if err != nil {
		return err
	}
	for _, sk := range counters {
		if d, _, ok := table.ParseDaySK(sk); ok {
			days[d.UnixMilli()/dayMS] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(days)) {
		for round := 0; ; round++ {
			lost, err := r.recountDay(ctx, workspaceID, mediumID, d)
			if err != nil {
				return err
			}
			if !lost {
				break
			}
			if round >= labelindex.MaxUnprocessedRounds {
				return fmt.Errorf("labelindex: the counters of %s kept changing during their recount", time.UnixMilli(d*dayMS).UTC().Format(time.DateOnly))
			}
		}
		p.Recounted++
	}
	return nil
}

// counterState is one counter item as the recount reads and writes it.
type counterState struct {
	version string // "" when the item or its version is absent
	total   int
	labels  map[string]int
	custom  map[string]bool
}

// recountDay counts one day's index items and markers by shard and writes
// the counter items; lost reports that a live transition changed one of them
// meanwhile (nothing of that item was written).
func (r *Rebuilder) recountDay(ctx context.Context, workspaceID, mediumID string, day int64) (lost bool, err error) {
	start := time.UnixMilli(day * dayMS).UTC()
	cntPK := table.CounterPK(workspaceID, mediumID)
	lo, hi := table.DaySKRange(start, start)
	// 1. The versions, before anything is counted.
	before, err := r.window(ctx, cntPK, lo, hi)
	if err != nil {
		return false, err
	}
	state := make([]counterState, table.CounterShards)
	labels := map[string]bool{}
	for i := range state {
		state[i] = counterState{labels: map[string]int{}, custom: map[string]bool{}}
	}
	for _, it := range before {
		sk, _ := it[table.SortKeyAttr].(*types.AttributeValueMemberS)
		if sk == nil {
			continue
		}
		_, shard, ok := table.ParseDaySK(sk.Value)
		if !ok {
			continue
		}
		if v, ok := it[table.VersionAttr].(*types.AttributeValueMemberN); ok {
			state[shard].version = v.Value
		}
		for name := range it {
			if l, ok := table.LabelOfCountAttr(name); ok {
				labels[l] = true
			}
		}
	}
	// 2. The day's messages name the labels to count (with those counted
	// already) and which of them are custom label ids.
	msLo, msHi := table.MessageSKAt(day*dayMS), table.MessageSKAt((day+1)*dayMS)
	msgs, err := r.window(ctx, table.MessagePK(workspaceID, mediumID), msLo, msHi)
	if err != nil {
		return false, err
	}
	for _, it := range msgs {
		s, ok, err := labelindex.Decode(it)
		if !ok || err != nil {
			continue
		}
		shard := table.MessageShard(s.SK)
		for _, l := range labelindex.Labels(workspaceID, mediumID, s.Message) {
			labels[l] = true
			if slices.Contains(s.Message.CustomLabelIDs, l) && !slices.Contains(s.Message.Labels, l) {
				state[shard].custom[l] = true
			}
		}
	}
	// 3. Count what the counters count: markers and index items, by shard.
	markers, err := r.keys(ctx, cntPK, table.MarkerSKAt(day*dayMS), table.MarkerSKAt((day+1)*dayMS))
	if err != nil {
		return false, err
	}
	for _, sk := range markers {
		if msk, ok := table.ParseMarkerSK(sk); ok {
			state[table.MessageShard(msk)].total++
		}
	}
	for _, l := range slices.Sorted(maps.Keys(labels)) {
		if !labelindex.Indexable(workspaceID, mediumID, l) {
			continue
		}
		sks, err := r.keys(ctx, table.LabelPK(workspaceID, mediumID, l), msLo, msHi)
		if err != nil {
			return false, err
		}
		for _, sk := range sks {
			state[table.MessageShard(sk)].labels[l]++
		}
	}
	// 4. Write each shard's item if its version is still the one read.
	for shard, st := range state {
		item := table.Key(cntPK, table.DaySK(start, shard))
		item[table.TotalAttr] = &types.AttributeValueMemberN{Value: strconv.Itoa(st.total)}
		for l, n := range st.labels {
			item[table.CountAttr(l)] = &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
		}
		if len(st.custom) > 0 {
			item[table.CustomAttr] = &types.AttributeValueMemberSS{Value: slices.Sorted(maps.Keys(st.custom))}
		}
		in := &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: item,
			ExpressionAttributeNames: map[string]string{"#v": table.VersionAttr}}
		if st.version == "" {
			item[table.VersionAttr] = &types.AttributeValueMemberN{Value: "1"}
			in.ConditionExpression = aws.String("attribute_not_exists(#v)")
		} else {
			n, err := strconv.ParseInt(st.version, 10, 64)
			if err != nil {
				return false, fmt.Errorf("labelindex: counter %s version %q: %w", table.DaySK(start, shard), st.version, err)
			}
			item[table.VersionAttr] = &types.AttributeValueMemberN{Value: strconv.FormatInt(n+1, 10)}
			in.ConditionExpression = aws.String("#v = :v")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: st.version}}
		}
		if _, err := r.client.PutItem(ctx, in); err != nil {
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				lost = true
				continue
			}
			return false, fmt.Errorf("labelindex: write counter: %w", err)
		}
	}
	return lost, nil
}

// keys reads the sort keys of partition pk in [lo, hi], strongly consistent
// (a BETWEEN whose hi no key equals excludes it).
func (r *Rebuilder) keys(ctx context.Context, pk, lo, hi string) ([]string, error) {
	in := table.Between(r.table, pk, lo, hi)
	in.ProjectionExpression, in.ConsistentRead = aws.String("#sk"), aws.Bool(true)
	var out []string
	pg := dynamodb.NewQueryPaginator(r.client, in)
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("labelindex: read %s: %w", pk, err)
		}
		for _, it := range page.Items {
			if sk, ok := it[table.SortKeyAttr].(*types.AttributeValueMemberS); ok {
				out = append(out, sk.Value)
			}
		}
	}
	return out, nil
}
