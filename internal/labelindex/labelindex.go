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

// MessageKey names a message item: its channel and sort key.
type MessageKey struct{ WorkspaceID, MediumID, SK string }

// ParseMessageKey reads a message item's key. ok is false for every other key,
// also one under a MSG# partition that is not a message's (MSG#ws-1 / META,
// MSG#ws-1#ch-1 / META, MSG#ws-1#ch-1#thread-9 / ...).
func ParseMessageKey(pk, sk string) (k MessageKey, ok bool) {
	ws, medium, ok := table.ParseMessagePK(pk)
	if !ok || !table.ValidMessageSK(sk) {
		return MessageKey{}, false
	}
	return MessageKey{ws, medium, sk}, true
}

// Key is the message item's DynamoDB key.
func (k MessageKey) Key() map[string]types.AttributeValue {
	return table.Key(table.MessagePK(k.WorkspaceID, k.MediumID), k.SK)
}

// IndexKey is the key of the message's index item under label.
func (k MessageKey) IndexKey(label string) map[string]types.AttributeValue {
	return indexKey(k.WorkspaceID, k.MediumID, label, k.SK)
}

func (k MessageKey) String() string { return table.MessagePK(k.WorkspaceID, k.MediumID) + " " + k.SK }

// Key is the key of the stored message.
func (s Stored) Key() MessageKey { return MessageKey{s.WorkspaceID, s.MediumID, s.SK} }

// Target is what one label's index item of a message must become: Item, or
// absent when Item is nil.
type Target struct {
	Label string
	Key   map[string]types.AttributeValue
	Item  map[string]types.AttributeValue
	// Msg is the message the item belongs to: its day and shard name the
	// counter the item's creation and deletion move (counters.go).
	Msg MessageKey
	// Custom: the label is one of the message's custom label ids and not one
	// of its label values (the counter's kind).
	Custom bool
	// Marker: the target is the message's presence marker, not an index item:
	// its creation and deletion move the day's total, and its content never
	// changes (see Presence).
	Marker bool
}

// Plan is the reconcile of one message's index with the message as it is now:
// cur, or nil when the message is absent (or unreadable: then it has no index
// items, as the rebuild sees it too). Every label of cur gets its item; every
// other label of consider (the labels the index may hold for the message:
// those of the stream images, of an earlier read) is deleted. A label whose
// item would exceed MaxItemBytes is deleted too and reported (see Oversize).
// Targets come label by label, sorted, each written on its own (Write), so
// that each index item's creation, replacement and deletion is one
// conditional write.
func Plan(k MessageKey, cur *table.Message, consider []string) ([]Target, []Oversize, error) {
	var items map[string]map[string]types.AttributeValue
	var over []Oversize
	labels := slices.Clone(consider)
	if cur != nil {
		var err error
		if items, over, err = itemsOf(k.WorkspaceID, k.MediumID, k.SK, *cur); err != nil {
			return nil, nil, err
		}
		labels = append(labels, Labels(k.WorkspaceID, k.MediumID, *cur)...)
	}
	slices.Sort(labels)
	var out []Target
	for _, l := range slices.Compact(labels) {
		if !Indexable(k.WorkspaceID, k.MediumID, l) {
			continue
		}
		t := Target{Label: l, Key: k.IndexKey(l), Item: items[l], Msg: k}
		if cur != nil {
			t.Custom = slices.Contains(cur.CustomLabelIDs, l) && !slices.Contains(cur.Labels, l)
		}
		out = append(out, t)
	}
	return out, over, nil
}

// SameIndex reports whether two states of a message have the same index items
// (same labels, same content): a change between them needs no index write.
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
