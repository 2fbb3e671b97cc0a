package labelindex

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/table"
)

// API is the part of the DynamoDB client the indexer uses: exactly what its
// role grants (template.yaml, LabelIndexerFunction): strongly consistent reads
// of message items, conditional writes of index items, and transactions that
// write an index item or presence marker with its counter (counters.go).
type API interface {
	ReadAPI
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// ReadAPI reads message items.
type ReadAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// MaxUnprocessedRounds bounds the retries of a read's unprocessed keys, of a
// label's write whose condition keeps flipping under concurrent writers, and
// (in the rebuild) of transactions a conflict cancelled.
const MaxUnprocessedRounds = 8

// maxBatchGet is BatchGetItem's limit of keys per call.
const maxBatchGet = 100

// Current is a message item as read now.
type Current struct {
	Stored
	// Item is the item as stored, for a condition that it is still so.
	Item map[string]types.AttributeValue
}

// Read reads the message items at keys, strongly consistent (BatchGetItem of up
// to 100 keys, unprocessed keys retried). found holds the messages that exist
// and can be read; unreadable the message items that exist and cannot (a
// malformed item, which has no index items, as the rebuild sees it). A key in
// neither is absent.
func Read(ctx context.Context, client ReadAPI, tableName string, keys []MessageKey) (found map[MessageKey]Current, unreadable map[MessageKey]error, err error) {
	found, unreadable = map[MessageKey]Current{}, map[MessageKey]error{}
	for start := 0; start < len(keys); start += maxBatchGet {
		var req []map[string]types.AttributeValue
		for _, k := range keys[start:min(start+maxBatchGet, len(keys))] {
			req = append(req, k.Key())
		}
		pending := map[string]types.KeysAndAttributes{tableName: {Keys: req, ConsistentRead: aws.Bool(true)}}
		for round := 0; len(pending[tableName].Keys) > 0; round++ {
			if round > 0 {
				if round > MaxUnprocessedRounds {
					return nil, nil, fmt.Errorf("labelindex: %d messages still unprocessed after retries", len(pending[tableName].Keys))
				}
				if err := pause(ctx, round); err != nil {
					return nil, nil, err
				}
			}
			out, err := client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, nil, fmt.Errorf("labelindex: read messages: %w", err)
			}
			for _, it := range out.Responses[tableName] {
				pk, _ := it[table.PartitionKeyAttr].(*types.AttributeValueMemberS)
				sk, _ := it[table.SortKeyAttr].(*types.AttributeValueMemberS)
				if pk == nil || sk == nil {
					continue
				}
				k, ok := ParseMessageKey(pk.Value, sk.Value)
				if !ok {
					continue
				}
				s, _, err := Decode(it)
				if err != nil {
					unreadable[k] = err
					continue
				}
				found[k] = Current{Stored: s, Item: it}
			}
			pending = out.UnprocessedKeys
		}
	}
	return found, unreadable, nil
}

// pause waits before retry round n (25 ms, 100 ms, 225 ms, ...).
func pause(ctx context.Context, n int) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(n*n) * 25 * time.Millisecond):
		return nil
	}
}

// Outcome is what a label's write did to its index item: the transitions a
// per-label counter follows (+1 Created, -1 Deleted, 0 otherwise).
type Outcome int

const (
	// Absent: the target was no item and there was none (a delete-if-present
	// whose condition failed).
	Absent Outcome = iota
	// Created: a put-if-absent created the item.
	Created
	// Replaced: a put-if-present replaced the item's content.
	Replaced
	// Deleted: a delete-if-present deleted the item.
	Deleted
	// Kept: a presence marker was there already (its content never changes).
	Kept
)

// The conditions of the transitions, on the index item itself.
var (
	ifAbsent  = "attribute_not_exists(" + table.PartitionKeyAttr + ")"
	ifPresent = "attribute_exists(" + table.PartitionKeyAttr + ")"
)

// Try performs one conditional write of a target: a put of t.Item, or a delete
// of t.Key when t.Item is nil, under the condition cond (an expression on the
// index item's own attributes). failed reports that the condition was false.
type Try func(ctx context.Context, t Target, cond string) (failed bool, err error)

// Transition makes one label's index item what t says with conditional writes,
// so that every change of the item is one of the Outcomes and is known:
//   - an item to put: a put-if-absent (Created) or a put-if-present (Replaced),
//     starting with the one exists guesses; when its condition fails, the other;
//   - no item: a delete-if-present (Deleted), or nothing (Absent).
//
// Either order ends in at most two writes unless a concurrent writer keeps
// flipping the item between them. A presence marker to put is a
// put-if-absent only (Created, or Kept when it is there).
//
// Delta says which of these writes move the item's counter; a Try that does
// not write the counter in the same transaction as the item breaks the counts.
func Transition(ctx context.Context, t Target, exists bool, try Try) (Outcome, error) {
	if t.Item == nil {
		failed, err := try(ctx, t, ifPresent)
		if err != nil {
			return Absent, err
		}
		if failed {
			return Absent, nil
		}
		return Deleted, nil
	}
	if t.Marker {
		failed, err := try(ctx, t, ifAbsent)
		if err != nil {
			return Absent, err
		}
		if failed {
			return Kept, nil
		}
		return Created, nil
	}
	for round := 0; round <= MaxUnprocessedRounds; round++ {
		cond, outcome := ifAbsent, Created
		if exists {
			cond, outcome = ifPresent, Replaced
		}
		failed, err := try(ctx, t, cond)
		if err != nil || !failed {
			return outcome, err
		}
		exists = !exists
	}
	return Absent, fmt.Errorf("labelindex: index item %s kept appearing and disappearing", t.Label)
}

// Write is Transition with conditional writes: a put-if-present (no count
// changes) is a plain PutItem; a put-if-absent or a delete-if-present is a
// transaction of the item's write and its counter's (Counted).
func Write(ctx context.Context, client API, tableName string, t Target, exists bool) (Outcome, error) {
	return Transition(ctx, t, exists, func(ctx context.Context, t Target, cond string) (bool, error) {
		if d := Delta(t, cond); d != 0 {
			failed, err := Transact(ctx, client, Counted(tableName, t, cond))
			if err != nil {
				return false, wrap("write index item and counter", err)
			}
			return failed[0], nil
		}
		var err error
		if t.Item != nil {
			_, err = client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: t.Item, ConditionExpression: aws.String(cond)})
		} else {
			_, err = client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tableName), Key: t.Key, ConditionExpression: aws.String(cond)})
		}
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return true, nil
		}
		return false, wrap("write index item", err)
	})
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("labelindex: %s: %w", op, err)
}
