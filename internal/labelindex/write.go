package labelindex

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// WriteAPI is the part of the DynamoDB client that writes index items: exactly
// what the indexer's role grants (template.yaml, LabelIndexerFunction).
type WriteAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// maxBatch is BatchWriteItem's limit of requests per call.
const maxBatch = 25

// MaxUnprocessedRounds bounds the retries of a batch's unprocessed requests
// (and, in the rebuild, of unprocessed keys and of transactions a conflict
// cancelled).
const MaxUnprocessedRounds = 8

// apply writes a Change: a single request as PutItem/DeleteItem, more in
// BatchWriteItem calls of up to 25 with unprocessed requests retried. Every
// request is idempotent (a put of the full item, a delete by key), so a Change
// applied twice leaves the same table.
func apply(ctx context.Context, client WriteAPI, table string, c Change) error {
	switch {
	case len(c.Puts)+len(c.Deletes) == 0:
		return nil
	case len(c.Puts) == 1 && len(c.Deletes) == 0:
		_, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: c.Puts[0]})
		return wrap("put", err)
	case len(c.Puts) == 0 && len(c.Deletes) == 1:
		_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: c.Deletes[0]})
		return wrap("delete", err)
	}
	reqs := make([]types.WriteRequest, 0, len(c.Puts)+len(c.Deletes))
	for _, it := range c.Puts {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	for _, k := range c.Deletes {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
	}
	return BatchWrite(ctx, client, table, reqs)
}

// BatchWrite writes reqs in BatchWriteItem calls of up to 25, retrying the
// unprocessed requests with a growing pause.
func BatchWrite(ctx context.Context, client interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}, table string, reqs []types.WriteRequest) error {
	for start := 0; start < len(reqs); start += maxBatch {
		pending := map[string][]types.WriteRequest{table: reqs[start:min(start+maxBatch, len(reqs))]}
		for round := 0; len(pending[table]) > 0; round++ {
			if round > 0 {
				if round > MaxUnprocessedRounds {
					return fmt.Errorf("labelindex: %d index writes still unprocessed", len(pending[table]))
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(round*round) * 25 * time.Millisecond):
				}
			}
			out, err := client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return wrap("batch write", err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("labelindex: %s: %w", op, err)
}
