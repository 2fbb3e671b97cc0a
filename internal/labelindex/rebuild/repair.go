package rebuild

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/table"
)

// indexedAttrs are the message attributes an index item copies: those of
// table.Message. A repair is valid only while every one of them is as the
// rebuild re-read it.
var indexedAttrs = func() []string {
	av, err := attributevalue.MarshalMap(table.Message{})
	if err != nil {
		panic(err)
	}
	return slices.Sorted(maps.Keys(av))
}()

// repair moves the index of a message from what a page wrote for it (s) to the
// message as re-read (cur; nil when it is gone). Every write is a transaction
// with a ConditionCheck that the message is still as re-read, so that a newer
// change, which the live indexer applies from the stream, is never undone by
// a stale repair. When one loses that race, the message is read again and the
// repair starts over from there, also deleting the items of every label the
// rebuild has seen on it (it may have written them).
func (r *Rebuilder) repair(ctx context.Context, s labelindex.Stored, cur *current) error {
	seen := labelindex.Labels(s.WorkspaceID, s.MediumID, s.Message)
	for round := 0; ; round++ {
		var next *labelindex.Stored
		if cur != nil {
			next = &cur.Stored
			seen = append(seen, labelindex.Labels(s.WorkspaceID, s.MediumID, cur.Message)...)
		}
		// A state carrying every label seen: Diff deletes those the message no
		// longer has, and puts every item it has.
		from := labelindex.Stored{WorkspaceID: s.WorkspaceID, MediumID: s.MediumID, SK: s.SK, Message: table.Message{Labels: seen}}
		c, err := labelindex.Diff(&from, next)
		if err != nil {
			return err
		}
		lost, err := r.writeIf(ctx, s, cur, c)
		if err != nil || !lost {
			return err
		}
		if round >= labelindex.MaxUnprocessedRounds {
			return fmt.Errorf("labelindex: message %s kept changing during its repair", s.SK)
		}
		now, err := r.reread(ctx, []labelindex.Stored{s})
		if err != nil {
			return err
		}
		cur = nil
		if c, ok := now[table.MessagePK(s.WorkspaceID, s.MediumID)+"\n"+s.SK]; ok {
			cur = &c
		}
	}
}

// writeIf applies c, one index item per transaction, each conditioned on the
// message of s being as cur. lost is true when the message had changed.
func (r *Rebuilder) writeIf(ctx context.Context, s labelindex.Stored, cur *current, c labelindex.Change) (lost bool, err error) {
	check := asReRead(r.table, table.Key(table.MessagePK(s.WorkspaceID, s.MediumID), s.SK), cur)
	var writes []types.TransactWriteItem
	for _, it := range c.Puts {
		writes = append(writes, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(r.table), Item: it}})
	}
	for _, k := range c.Deletes {
		writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(r.table), Key: k}})
	}
	for _, w := range writes {
		failed, err := r.transact(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{ConditionCheck: check}, w}})
		if err != nil {
			return false, fmt.Errorf("labelindex: repair index item: %w", err)
		}
		if failed {
			return true, nil
		}
	}
	return false, nil
}

// asReRead is the ConditionCheck that the message item at key is as cur: every
// attribute the index copies equal, or absent where cur lacks it; with cur
// nil, that the message does not exist.
func asReRead(tableName string, key map[string]types.AttributeValue, cur *current) *types.ConditionCheck {
	names := map[string]string{"#pk": table.PartitionKeyAttr}
	if cur == nil {
		return &types.ConditionCheck{
			TableName: aws.String(tableName), Key: key,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: names,
		}
	}
	values := map[string]types.AttributeValue{}
	conds := []string{"attribute_exists(#pk)"}
	for i, a := range indexedAttrs {
		n := "#a" + strconv.Itoa(i)
		names[n] = a
		if v, ok := cur.item[a]; ok {
			values[":v"+strconv.Itoa(i)] = v
			conds = append(conds, n+" = :v"+strconv.Itoa(i))
		} else {
			conds = append(conds, "attribute_not_exists("+n+")")
		}
	}
	cc := &types.ConditionCheck{
		TableName: aws.String(tableName), Key: key,
		ConditionExpression:      aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames: names,
	}
	if len(values) > 0 {
		cc.ExpressionAttributeValues = values
	}
	return cc
}
