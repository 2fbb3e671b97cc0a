package rebuild

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
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

// errLost: the message is no longer as read; the reconcile starts over.
var errLost = errors.New("labelindex: the message changed")

// repair moves the index of a message from what a page wrote for it (s) to the
// message as re-read (cur; nil when it is gone).
func (r *Rebuilder) repair(ctx context.Context, s labelindex.Stored, cur *labelindex.Current) error {
	_, err := r.reconcile(ctx, s.Key(), labelindex.Labels(s.WorkspaceID, s.MediumID, s.Message), cur)
	return err
}

// reconcile makes the index items of the message at k match the message as
// read (cur; nil when absent), over the labels of cur and consider, with the
// same per-label transitions as the indexer (labelindex.Transition), each in a
// transaction whose ConditionCheck requires the message to be still as read:
// a newer change, which the live indexer applies from the stream, is never
// undone by a stale write. When one loses that race, the message is read again
// and the reconcile starts over from there, over every label seen so far (it
// may have written them).
func (r *Rebuilder) reconcile(ctx context.Context, k labelindex.MessageKey, consider []string, cur *labelindex.Current) (changed int, err error) {
	seen := consider
	for round := 0; ; round++ {
		var msg *table.Message
		if cur != nil {
			msg = &cur.Message
			seen = append(seen, labelindex.Labels(k.WorkspaceID, k.MediumID, cur.Message)...)
		}
		targets, _, err := labelindex.Plan(k, msg, seen)
		if err != nil {
			return changed, err
		}
		targets = append(targets, labelindex.PresenceTarget(k, cur != nil))
		check := asReRead(r.table, k.Key(), cur)
		lost := false
		for _, t := range targets {
			out, err := labelindex.Transition(ctx, t, t.Item != nil, func(ctx context.Context, t labelindex.Target, cond string) (bool, error) {
				return r.guarded(ctx, check, t, cond)
			})
			if errors.Is(err, errLost) {
				lost = true
				break
			}
			if err != nil {
				return changed, fmt.Errorf("labelindex: repair index item: %w", err)
			}
			if out != labelindex.Absent && out != labelindex.Kept {
				changed++
			}
		}
		if !lost {
			return changed, nil
		}
		if round >= labelindex.MaxUnprocessedRounds {
			return changed, fmt.Errorf("labelindex: message %s kept changing during its repair", k)
		}
		now, _, err := labelindex.Read(ctx, r.client, r.table, []labelindex.MessageKey{k})
		if err != nil {
			return changed, err
		}
		cur = nil
		if c, ok := now[k]; ok {
			cur = &c
		}
	}
}

// guarded writes one target under cond, with its counter (labelindex.Counted),
// in a transaction with check: errLost when check failed, failed when cond did.
func (r *Rebuilder) guarded(ctx context.Context, check *types.ConditionCheck, t labelindex.Target, cond string) (failed bool, err error) {
	items := append([]types.TransactWriteItem{{ConditionCheck: check}}, labelindex.Counted(r.table, t, cond)...)
	reasons, err := labelindex.Transact(ctx, r.client, items)
	switch {
	case err != nil:
		return false, err
	case reasons[0]:
		return false, errLost
	}
	return reasons[1], nil
}

// asReRead is the ConditionCheck that the message item at key is as cur: every
// attribute the index copies equal, or absent where cur lacks it; with cur
// nil, that the message does not exist.
func asReRead(tableName string, key map[string]types.AttributeValue, cur *labelindex.Current) *types.ConditionCheck {
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
		if v, ok := cur.Item[a]; ok {
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
