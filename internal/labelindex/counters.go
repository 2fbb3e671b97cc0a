package labelindex

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/table"
)

// Label counters (docs/label-index.md, "Counts"): per channel, UTC day and
// shard, the number of index items of each label and the number of messages.
//
// A counter moves only in the transaction that creates or deletes the item it
// counts, under that write's condition: put-if-absent +1, delete-if-present
// -1, a put-if-present (new content) nothing. A replayed or retried record
// finds the item already as it wants it, its condition fails, and the whole
// transaction with the counter's change is cancelled: a counter always equals
// the number of items it counts. Messages are counted through their presence
// marker (PresenceTarget), which the indexer creates and deletes the same way.

// PresenceTarget is the presence marker of the message at k: present or not.
func PresenceTarget(k MessageKey, present bool) Target {
	key := table.Key(table.CounterPK(k.WorkspaceID, k.MediumID), table.MarkerSK(k.SK))
	t := Target{Key: key, Msg: k, Marker: true}
	if present {
		t.Item = key
	}
	return t
}

// Delta is how a write of t under cond moves its counter: +1 for a
// put-if-absent, -1 for a delete-if-present, 0 for a put-if-present.
func Delta(t Target, cond string) int {
	switch {
	case t.Item == nil && cond == ifPresent:
		return -1
	case t.Item != nil && cond == ifAbsent:
		return 1
	}
	return 0
}

// Counted is the transaction items of a write of t under cond: the item's
// conditional write, then, when Delta is not 0, the counter's update.
func Counted(tableName string, t Target, cond string) []types.TransactWriteItem {
	w := types.TransactWriteItem{}
	if t.Item != nil {
		w.Put = &types.Put{TableName: aws.String(tableName), Item: t.Item, ConditionExpression: aws.String(cond)}
	} else {
		w.Delete = &types.Delete{TableName: aws.String(tableName), Key: t.Key, ConditionExpression: aws.String(cond)}
	}
	out := []types.TransactWriteItem{w}
	if d := Delta(t, cond); d != 0 {
		out = append(out, types.TransactWriteItem{Update: CounterUpdate(tableName, t, d)})
	}
	return out
}

// CounterUpdate adds delta to the count of t's label (the total for a
// presence marker) in the counter item of t's message; a label created as a
// custom label id joins the item's CustomAttr set.
func CounterUpdate(tableName string, t Target, delta int) *types.Update {
	sk, _ := table.CounterSK(t.Msg.SK) // Plan and PresenceTarget take valid keys only
	attr := table.TotalAttr
	if !t.Marker {
		attr = table.CountAttr(t.Label)
	}
	u := &types.Update{
		TableName:                aws.String(tableName),
		Key:                      table.Key(table.CounterPK(t.Msg.WorkspaceID, t.Msg.MediumID), sk),
		UpdateExpression:         aws.String("ADD #n :d, #v :one"),
		ExpressionAttributeNames: map[string]string{"#n": attr, "#v": table.VersionAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":d":   &types.AttributeValueMemberN{Value: strconv.Itoa(delta)},
			":one": &types.AttributeValueMemberN{Value: "1"},
		},
	}
	if delta > 0 && t.Custom && !t.Marker {
		u.UpdateExpression = aws.String("ADD #n :d, #v :one, #c :c")
		u.ExpressionAttributeNames["#c"] = table.CustomAttr
		u.ExpressionAttributeValues[":c"] = &types.AttributeValueMemberSS{Value: []string{t.Label}}
	}
	return u
}

// Transact runs a transaction of conditional writes and reports, item by
// item, whether its condition failed (all false when it succeeded): a
// cancelled transaction whose condition failed did nothing, which for a
// counted transition means it had happened already. A cancellation for a
// conflict with a concurrent transaction on the same items (a hot counter)
// is tried again after a jittered pause, up to MaxUnprocessedRounds times.
func Transact(ctx context.Context, client interface {
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}, items []types.TransactWriteItem) (conditionFailed []bool, err error) {
	in := &dynamodb.TransactWriteItemsInput{TransactItems: items}
	for round := 0; ; round++ {
		_, err := client.TransactWriteItems(ctx, in)
		if err == nil {
			return make([]bool, len(items)), nil
		}
		var tc *types.TransactionCanceledException
		if !errors.As(err, &tc) {
			return nil, err
		}
		failed, conditional := make([]bool, len(items)), false
		for i, reason := range tc.CancellationReasons {
			if i < len(failed) && aws.ToString(reason.Code) == "ConditionalCheckFailed" {
				failed[i], conditional = true, true
			}
		}
		if conditional {
			return failed, nil
		}
		if round >= MaxUnprocessedRounds {
			return nil, err
		}
		// Full jitter over a growing window: colliding writers spread out.
		wait := time.Duration(rand.Int64N(int64((round+1)*(round+1))*int64(25*time.Millisecond)) + 1)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Deletion is the transaction items of t's delete-if-present with its
// counter's -1 (t.Item is ignored).
func Deletion(tableName string, t Target) []types.TransactWriteItem {
	t.Item = nil
	return Counted(tableName, t, ifPresent)
}

// CounterItems are the presence markers and counter items of a channel
// holding exactly msgs (each under MessageSK(m.Timestamp, m.MessageID)) with
// the index items MessageItems gives them: what the indexer's transitions
// would have left in a table without other messages of that channel. The
// seeder writes them, as it writes the index items, on tables without a
// stream indexer.
func CounterItems(workspaceID, mediumID string, msgs []table.Message) ([]map[string]types.AttributeValue, error) {
	type counter struct {
		total  int
		labels map[string]int
		custom []string
	}
	counters := map[string]*counter{}
	var out []map[string]types.AttributeValue
	pk := table.CounterPK(workspaceID, mediumID)
	for _, m := range msgs {
		sk := table.MessageSK(m.Timestamp, m.MessageID)
		items, err := Items(workspaceID, mediumID, sk, m)
		if err != nil {
			return nil, err
		}
		csk, _ := table.CounterSK(sk)
		c := counters[csk]
		if c == nil {
			c = &counter{labels: map[string]int{}}
			counters[csk] = c
		}
		c.total++
		for l := range items {
			c.labels[l]++
			if slices.Contains(m.CustomLabelIDs, l) && !slices.Contains(m.Labels, l) && !slices.Contains(c.custom, l) {
				c.custom = append(c.custom, l)
			}
		}
		out = append(out, table.Key(pk, table.MarkerSK(sk)))
	}
	for _, csk := range slices.Sorted(maps.Keys(counters)) {
		c := counters[csk]
		it := table.Key(pk, csk)
		it[table.TotalAttr] = &types.AttributeValueMemberN{Value: strconv.Itoa(c.total)}
		for l, n := range c.labels {
			it[table.CountAttr(l)] = &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
		}
		if len(c.custom) > 0 {
			slices.Sort(c.custom)
			it[table.CustomAttr] = &types.AttributeValueMemberSS{Value: c.custom}
		}
		out = append(out, it)
	}
	return out, nil
}
