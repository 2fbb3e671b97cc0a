// Package labelindex keeps the label index of the messages table: for every
// label value and custom label id on a message, one item
//
//	pk = LBL#<workspaceId>#<mediumId>#<label>   sk = the message's sk
//
// carrying the attributes the API returns, so that the label drill-down is one
// Query of one partition that reads only what it returns (messages.LabelViaIndex).
//
// One function, Items, says what a message's index items are. The stream
// indexer (Indexer, functions/label-indexer), the seed writer (local data,
// tests) and the backfill (package rebuild, `vipctl index rebuild`) all use it.
//
// Labels containing '#' (the key separator) or empty labels are rejected when a
// message is written through this project (table.Message.Item), and skipped
// by the index when they reach it from elsewhere: the API's label parameter
// cannot contain '#' either, so no query can ask for them.
package labelindex

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/table"
)

// maxKeyBytes is DynamoDB's limit on a partition key value.
const maxKeyBytes = 2048

// Labels are the index labels of a message: its label values and custom label
// ids, once each, sorted, leaving out those that cannot be a key part.
func Labels(workspaceID, mediumID string, m table.Message) []string {
	var out []string
	for _, l := range append(slices.Clone(m.Labels), m.CustomLabelIDs...) {
		if Indexable(workspaceID, mediumID, l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Indexable reports whether label can have an index partition in that channel.
func Indexable(workspaceID, mediumID, label string) bool {
	return table.ValidLabel(label) && len(table.LabelPK(workspaceID, mediumID, label)) <= maxKeyBytes
}

// MaxItemBytes is DynamoDB's item size limit (400 KB).
const MaxItemBytes = 400 * 1024

// Items returns a message's index items, by label. sk is the message's sort key
// (table.MessageSK of its timestamp and id). An index item is a copy of the
// message under a longer partition key, so a message near DynamoDB's 400 KB
// limit can have index items over it: those are left out (see Oversize).
func Items(workspaceID, mediumID, sk string, m table.Message) (map[string]map[string]types.AttributeValue, error) {
	items, _, err := itemsOf(workspaceID, mediumID, sk, m)
	return items, err
}

// Oversize is an index item left out because it would exceed MaxItemBytes.
//
// The choice: such a label is skipped (and logged by the indexer, counted by
// the rebuild), rather than failing the stream record, which could never
// succeed and would block the message's later records until Lambda gives up.
// The message is then missing from that label's pages, and any earlier,
// smaller copy of it there is deleted rather than left stale.
type Oversize struct {
	Label string
	Bytes int // estimated size of the index item (an upper bound)
}

// itemsOf is Items, also returning the items left out for their size.
func itemsOf(workspaceID, mediumID, sk string, m table.Message) (map[string]map[string]types.AttributeValue, []Oversize, error) {
	if !table.ValidID(workspaceID) || !table.ValidID(mediumID) {
		return nil, nil, fmt.Errorf("labelindex: bad channel %q/%q", workspaceID, mediumID)
	}
	if !table.ValidMessageSK(sk) {
		return nil, nil, fmt.Errorf("labelindex: bad message sort key %q", sk)
	}
	m = m.WithLabelLists()
	out := map[string]map[string]types.AttributeValue{}
	var over []Oversize
	for _, l := range Labels(workspaceID, mediumID, m) {
		av, err := attributevalue.MarshalMap(table.MessageItem{PK: table.LabelPK(workspaceID, mediumID, l), SK: sk, Message: m})
		if err != nil {
			return nil, nil, fmt.Errorf("labelindex: encode: %w", err)
		}
		if n := ItemSize(av); n > MaxItemBytes {
			over = append(over, Oversize{Label: l, Bytes: n})
			continue
		}
		out[l] = av
	}
	return out, over, nil
}

// ItemSize is an upper bound of an item's size as DynamoDB counts it toward the
// 400 KB limit: attribute names and values in UTF-8 bytes, a number as its
// decimal text plus one, 3 bytes per list or map plus 1 per element.
func ItemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value) + 1
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, e := range v.Value {
			n += len(e) + 1
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 1 // BOOL, NULL
}

// MessageItems is Items for a message stored under MessageSK(m.Timestamp, m.MessageID).
func MessageItems(workspaceID, mediumID string, m table.Message) ([]map[string]types.AttributeValue, error) {
	byLabel, err := Items(workspaceID, mediumID, table.MessageSK(m.Timestamp, m.MessageID), m)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]types.AttributeValue, 0, len(byLabel))
	for _, l := range slices.Sorted(maps.Keys(byLabel)) {
		out = append(out, byLabel[l])
	}
	return out, nil
}

// Stored is a message item as read from the table or a stream image.
type Stored struct {
	WorkspaceID, MediumID, SK string
	Message                   table.Message
}

// Decode reads a message item. ok is false for items that are not messages (the
// index's own items, workspaces, channels); err is set for a message item that
// cannot be read.
func Decode(item map[string]types.AttributeValue) (s Stored, ok bool, err error) {
	pk, _ := item[table.PartitionKeyAttr].(*types.AttributeValueMemberS)
	if pk == nil {
		return Stored{}, false, nil
	}
	ws, medium, isMsg := table.ParseMessagePK(pk.Value)
	if !isMsg {
		return Stored{}, false, nil
	}
	var it table.MessageItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return Stored{}, true, fmt.Errorf("labelindex: message %s/%s: %w", pk.Value, it.SK, err)
	}
	if !table.ValidMessageSK(it.SK) {
		return Stored{}, true, fmt.Errorf("labelindex: message %s has a bad sort key %q", pk.Value, it.SK)
	}
	return Stored{WorkspaceID: ws, MediumID: medium, SK: it.SK, Message: it.Message}, true, nil
}

// indexKey is the key of a label's index item for a message.
func indexKey(workspaceID, mediumID, label, sk string) map[string]types.AttributeValue {
	return table.Key(table.LabelPK(workspaceID, mediumID, label), sk)
}

// Change is what the index needs after a message went from old to new (either
// nil: inserted or removed): the items to put and the keys to delete.
type Change struct {
	Puts    []map[string]types.AttributeValue
	Deletes []map[string]types.AttributeValue
	// TooLarge are the new state's labels whose index item would exceed
	// MaxItemBytes: not put, and their keys are in Deletes (see Oversize).
	TooLarge []Oversize
}

// Diff computes the Change from one state of a message item to the next: every
// index item of the new state is put (idempotent puts of whole items, so a
// MODIFY also recreates an item that went missing, and a text or kind change
// reaches every label of the message), and the items of the labels the old
// state had and the new one lacks are deleted.
func Diff(old, new *Stored) (Change, error) {
	var c Change
	var oldItems, newItems map[string]map[string]types.AttributeValue
	var err error
	if old != nil {
		if oldItems, _, err = itemsOf(old.WorkspaceID, old.MediumID, old.SK, old.Message); err != nil {
			return c, err
		}
	}
	if new != nil {
		if newItems, c.TooLarge, err = itemsOf(new.WorkspaceID, new.MediumID, new.SK, new.Message); err != nil {
			return c, err
		}
		// An earlier copy under an oversize label is deleted, not left stale
		// (unless the loop below deletes it already).
		for _, o := range c.TooLarge {
			if _, had := oldItems[o.Label]; !had || !sameChannelAndSK(old, new) {
				c.Deletes = append(c.Deletes, indexKey(new.WorkspaceID, new.MediumID, o.Label, new.SK))
			}
		}
	}
	samePlace := sameChannelAndSK(old, new)
	for _, l := range slices.Sorted(maps.Keys(newItems)) {
		c.Puts = append(c.Puts, newItems[l])
	}
	for _, l := range slices.Sorted(maps.Keys(oldItems)) {
		if _, kept := newItems[l]; kept && samePlace {
			continue
		}
		c.Deletes = append(c.Deletes, indexKey(old.WorkspaceID, old.MediumID, l, old.SK))
	}
	return c, nil
}

func sameChannelAndSK(a, b *Stored) bool {
	return a != nil && b != nil && a.WorkspaceID == b.WorkspaceID && a.MediumID == b.MediumID && a.SK == b.SK
}

// SameIndex reports whether two states of a message have the same index items
// (same labels, same content).
func SameIndex(a, b Stored) bool {
	x, err := Items(a.WorkspaceID, a.MediumID, a.SK, a.Message)
	if err != nil {
		return false
	}
	y, err := Items(b.WorkspaceID, b.MediumID, b.SK, b.Message)
	if err != nil || len(x) != len(y) {
		return false
	}
	for l, it := range x {
		if other, ok := y[l]; !ok || !equalItems(it, other) {
			return false
		}
	}
	return true
}

// equalItems compares two encoded items by their decoded content.
func equalItems(a, b map[string]types.AttributeValue) bool {
	var x, y table.MessageItem
	if attributevalue.UnmarshalMap(a, &x) != nil || attributevalue.UnmarshalMap(b, &y) != nil {
		return false
	}
	return x.PK == y.PK && x.SK == y.SK && x.MessageID == y.MessageID && x.Timestamp == y.Timestamp &&
		x.ConversationID == y.ConversationID && x.UserName == y.UserName && x.Kind == y.Kind &&
		x.Source == y.Source && x.Text == y.Text &&
		slices.Equal(x.Labels, y.Labels) && slices.Equal(x.CustomLabelIDs, y.CustomLabelIDs)
}
