package rebuild

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelcount"
	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/table"
)

// Problems a verify reports.
const (
	// Missing: the message carries the label and the index has no item.
	Missing = "missing"
	// Orphan: an index item whose message is gone or does not carry the label.
	Orphan = "orphan"
	// Stale: the item's content differs from the message's (Detail names the
	// attributes).
	Stale = "stale"
	// Count: the label counters' count of a label over the window differs from
	// the index items of the label there (Label set), or their total from the
	// messages (Label empty); SK is empty. Detail has both numbers.
	Count = "count"
)

// Difference is one index item that differs from the table.
type Difference struct {
	Label, SK       string
	Problem, Detail string
}

// Verified is what a verify compared.
type Verified struct {
	Messages int // message items in the window
	Labels   int // label partitions walked
	Items    int // index items read
	// Total and Counted are what the label counters say of the window (the
	// GET /vip-messages/labels answer): its messages, and labels counted.
	Total, Counted int
	Differences    []Difference
}

// Verify compares the label index of one channel with its messages over the
// window [from, until): it reads the window's messages (strongly consistent)
// and walks, over the same window, the partition of every label they carry and
// of every label in extra, and reports every difference. A difference is
// checked again after settle (the live indexer follows the table a second or
// two behind) against fresh reads of the message and the item, and reported
// only if it is still there.
//
// A label that no message of the window carries and that extra does not name
// is not walked: an orphan under it is found by the rebuild's sweep, or by
// passing the label (ScanLabels lists a channel's label partitions).
//
// It compares the label counters too (internal/labelcount, the label
// overview's read): every label they count over the window is walked, and its
// count must equal the index items read under it, the total the messages
// read. A count difference is rechecked after settle by counting and walking
// again.
func (r *Rebuilder) Verify(ctx context.Context, workspaceID, mediumID string, from, until time.Time, extra []string, settle time.Duration) (Verified, error) {
	var v Verified
	if !table.ValidID(workspaceID) || !table.ValidID(mediumID) {
		return v, fmt.Errorf("labelindex: bad channel %q/%q", workspaceID, mediumID)
	}
	lo, hi := table.MessageSKAt(ceilMS(from)), table.MessageSKAt(ceilMS(until))
	msgs, err := r.window(ctx, table.MessagePK(workspaceID, mediumID), lo, hi)
	if err != nil {
		return v, err
	}
	// want: label -> sk -> the message as its index item must hold it.
	want := map[string]map[string]table.Message{}
	labels := slices.Clone(extra)
	for _, it := range msgs {
		s, ok, err := labelindex.Decode(it)
		if !ok || err != nil {
			continue // not a message: it has no index items
		}
		v.Messages++
		items, err := labelindex.Items(workspaceID, mediumID, s.SK, s.Message)
		if err != nil {
			return v, err
		}
		for l := range items {
			if want[l] == nil {
				want[l] = map[string]table.Message{}
			}
			want[l][s.SK] = s.Message.WithLabelLists()
			labels = append(labels, l)
		}
	}
	counter := labelcount.NewStore(r.client, r.table)
	cq := labelcount.Query{WorkspaceID: workspaceID, MediumID: mediumID, From: from, Until: until}
	counts, err := counter.Count(ctx, cq)
	if err != nil {
		return v, err
	}
	v.Total, v.Counted = int(counts.Total), len(counts.Labels)
	for _, c := range counts.Labels {
		labels = append(labels, c.Label)
	}
	slices.Sort(labels)
	labels = slices.Compact(labels)
	var found []Difference
	indexed := map[string]int{}
	for _, l := range labels {
		if !labelindex.Indexable(workspaceID, mediumID, l) {
			continue
		}
		v.Labels++
		items, err := r.window(ctx, table.LabelPK(workspaceID, mediumID, l), lo, hi)
		if err != nil {
			return v, err
		}
		v.Items += len(items)
		indexed[l] = len(items)
		seen := map[string]bool{}
		for _, it := range items {
			var got table.MessageItem
			if err := attributevalue.UnmarshalMap(it, &got); err != nil {
				found = append(found, Difference{l, got.SK, Stale, "unreadable: " + err.Error()})
				continue
			}
			seen[got.SK] = true
			m, ok := want[l][got.SK]
			switch {
			case !ok:
				found = append(found, Difference{l, got.SK, Orphan, "the message is gone or does not carry the label"})
			case len(differingFields(got.Message.WithLabelLists(), m)) > 0:
				found = append(found, Difference{l, got.SK, Stale, "differs in " + fmt.Sprint(differingFields(got.Message.WithLabelLists(), m))})
			}
		}
		for _, sk := range slices.Sorted(maps.Keys(want[l])) {
			if !seen[sk] {
				found = append(found, Difference{l, sk, Missing, "the message carries the label"})
			}
		}
	}
	countDiffs := countDifferences(counts, int64(v.Messages), indexed)
	if len(found) == 0 && len(countDiffs) == 0 {
		return v, nil
	}
	if settle > 0 {
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(settle):
		}
	}
	if len(found) > 0 {
		if v.Differences, err = r.recheck(ctx, workspaceID, mediumID, found); err != nil {
			return v, err
		}
	}
	if len(countDiffs) > 0 {
		// Again, after the settle: both reads anew.
		counts, err := counter.Count(ctx, cq)
		if err != nil {
			return v, err
		}
		msgs, err := r.window(ctx, table.MessagePK(workspaceID, mediumID), lo, hi)
		if err != nil {
			return v, err
		}
		messages := int64(0)
		for _, it := range msgs {
			if _, ok, err := labelindex.Decode(it); ok && err == nil {
				messages++
			}
		}
		for _, d := range countDiffs {
			if d.Label == "" {
				continue
			}
			items, err := r.window(ctx, table.LabelPK(workspaceID, mediumID, d.Label), lo, hi)
			if err != nil {
				return v, err
			}
			indexed[d.Label] = len(items)
		}
		for _, d := range countDifferences(counts, messages, indexed) {
			if d.Label == "" || slices.ContainsFunc(countDiffs, func(x Difference) bool { return x.Label == d.Label }) {
				v.Differences = append(v.Differences, d)
			}
		}
	}
	return v, nil
}

// countDifferences compares the counters' answer with the messages and the
// index items read (by label).
func countDifferences(counts labelcount.Counts, messages int64, indexed map[string]int) []Difference {
	var out []Difference
	if counts.Total != messages {
		out = append(out, Difference{Problem: Count, Detail: fmt.Sprintf("the counters count %d messages, the table holds %d", counts.Total, messages)})
	}
	counted := map[string]int64{}
	for _, c := range counts.Labels {
		counted[c.Label] = c.Count
	}
	for _, l := range slices.Sorted(maps.Keys(indexed)) {
		if counted[l] != int64(indexed[l]) {
			out = append(out, Difference{Label: l, Problem: Count, Detail: fmt.Sprintf("the counters count %d, the index holds %d items", counted[l], indexed[l])})
		}
	}
	return out
}

// recheck keeps the differences still there on fresh, strongly consistent
// reads of each message and index item.
func (r *Rebuilder) recheck(ctx context.Context, workspaceID, mediumID string, found []Difference) ([]Difference, error) {
	var keys []labelindex.MessageKey
	for _, d := range found {
		keys = append(keys, labelindex.MessageKey{WorkspaceID: workspaceID, MediumID: mediumID, SK: d.SK})
	}
	slices.SortFunc(keys, func(a, b labelindex.MessageKey) int { return strings.Compare(a.SK, b.SK) })
	now, _, err := labelindex.Read(ctx, r.client, r.table, slices.Compact(keys))
	if err != nil {
		return nil, err
	}
	var out []Difference
	for _, d := range found {
		k := labelindex.MessageKey{WorkspaceID: workspaceID, MediumID: mediumID, SK: d.SK}
		var want *table.Message
		if cur, ok := now[k]; ok && slices.Contains(labelindex.Labels(workspaceID, mediumID, cur.Message), d.Label) {
			if items, err := labelindex.Items(workspaceID, mediumID, d.SK, cur.Message); err == nil && items[d.Label] != nil {
				m := cur.Message.WithLabelLists()
				want = &m
			}
		}
		res, err := r.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(r.table),
			KeyConditionExpression:    aws.String("#pk = :pk AND #sk = :sk"),
			ExpressionAttributeNames:  map[string]string{"#pk": table.PartitionKeyAttr, "#sk": table.SortKeyAttr},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.LabelPK(workspaceID, mediumID, d.Label)}, ":sk": &types.AttributeValueMemberS{Value: d.SK}},
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("labelindex: read index item: %w", err)
		}
		var got *table.Message
		if len(res.Items) == 1 {
			var it table.MessageItem
			if err := attributevalue.UnmarshalMap(res.Items[0], &it); err != nil {
				out = append(out, d)
				continue
			}
			m := it.Message.WithLabelLists()
			got = &m
		}
		switch {
		case want == nil && got == nil:
		case want == nil:
			out = append(out, Difference{d.Label, d.SK, Orphan, "the message is gone or does not carry the label"})
		case got == nil:
			out = append(out, Difference{d.Label, d.SK, Missing, "the message carries the label"})
		case len(differingFields(*got, *want)) > 0:
			out = append(out, Difference{d.Label, d.SK, Stale, "differs in " + fmt.Sprint(differingFields(*got, *want))})
		}
	}
	return out, nil
}

// window reads the items of partition pk with lo <= sk < hi, strongly
// consistent.
func (r *Rebuilder) window(ctx context.Context, pk, lo, hi string) ([]map[string]types.AttributeValue, error) {
	// "ts" sorts before every "ts#id" of that millisecond: hi is excluded.
	in := table.Between(r.table, pk, lo, hi)
	in.ConsistentRead, in.Limit = aws.Bool(true), aws.Int32(int32(r.pageSize()))
	var out []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(r.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("labelindex: read %s: %w", pk, err)
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

// ceilMS is t in epoch milliseconds, rounded up, as the API rounds a window.
func ceilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// differingFields names the attributes in which two messages differ.
func differingFields(a, b table.Message) []string {
	x, errX := attributevalue.MarshalMap(a)
	y, errY := attributevalue.MarshalMap(b)
	if errX != nil || errY != nil {
		return []string{"(unreadable)"}
	}
	var out []string
	for _, name := range indexedAttrs {
		if !equalAV(x[name], y[name]) {
			out = append(out, name)
		}
	}
	return out
}

func equalAV(a, b types.AttributeValue) bool {
	var x, y any
	if attributevalue.Unmarshal(a, &x) != nil || attributevalue.Unmarshal(b, &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// ScanLabels lists the labels that have index items in a channel: a Scan of
// the whole table (read and billed in full), keys only.
func (r *Rebuilder) ScanLabels(ctx context.Context, workspaceID, mediumID string) ([]string, error) {
	prefix := table.LabelPK(workspaceID, mediumID, "")
	p := dynamodb.NewScanPaginator(r.client, &dynamodb.ScanInput{
		TableName:                 aws.String(r.table),
		FilterExpression:          aws.String("begins_with(#pk, :prefix)"),
		ProjectionExpression:      aws.String("#pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": table.PartitionKeyAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":prefix": &types.AttributeValueMemberS{Value: prefix}},
	})
	set := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("labelindex: scan label partitions: %w", err)
		}
		for _, it := range page.Items {
			if pk, _ := it[table.PartitionKeyAttr].(*types.AttributeValueMemberS); pk != nil {
				if ws, m, l, ok := table.ParseLabelPK(pk.Value); ok && ws == workspaceID && m == mediumID {
					set[l] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}
