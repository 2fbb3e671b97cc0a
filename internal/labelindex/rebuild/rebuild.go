// Package rebuild backfills the label index from the message items and sweeps
// it for orphans (`vipctl index rebuild`). Only vipctl runs it: the indexer
// Lambda keeps the index through package labelindex alone.
package rebuild

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/table"
)

// API is the part of the DynamoDB client a Rebuilder uses.
type API interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Rebuilder backfills the label index from the message items, for data written
// before the index (or its indexer) existed, or after the indexer gave up on a
// batch (its DLQ). It works in two phases: it writes the index items of every
// message, then sweeps the index items and deletes the orphans, those whose
// message is gone or no longer carries the label (sweep.go). It is idempotent
// (puts of whole items, conditional deletes) and resumable: every page of
// either phase reports a token that continues after it.
//
// It runs beside the live indexer without undoing its work: after writing a
// page's index items it reads the page's messages again (strongly consistent)
// and repairs any message that changed in between, so a label removed while
// the page was being written does not come back. Each repair write is a
// transaction whose ConditionCheck requires the message to be still as re-read
// (repair.go), the way the sweep's deletes are conditional: a newer change the
// indexer applied meanwhile is never undone.
type Rebuilder struct {
	client API
	table  string
	// PageSize is the number of items read per Query or Scan call (default 100).
	PageSize int
}

// New returns a Rebuilder over table.
func New(client API, table string) *Rebuilder {
	return &Rebuilder{client: client, table: table, PageSize: 100}
}

// Progress is where a rebuild is. Token resumes after the last page done; it is
// empty when the rebuild is complete.
type Progress struct {
	Pages    int // pages done
	Messages int // message items read
	Written  int // index items written
	Repaired int // messages that changed while their page was written, repaired
	Skipped  int // message items that could not be read (malformed), index items not of the label index
	TooLarge int // index items left out: over DynamoDB's item size limit (see labelindex.Oversize)

	SweepPages int // pages of the orphan sweep done
	Checked    int // index items checked by the sweep
	Orphans    int // orphaned index items deleted by the sweep

	Token string
}

// ErrBadToken means a resume token is not one this rebuild kind issued.
var ErrBadToken = errors.New("labelindex: bad resume token")

const (
	channelTokenPrefix = "c1."
	scanTokenPrefix    = "a1."
)

// Channel rebuilds the index of one channel's messages, then sweeps the
// channel's label partitions for orphans (a Scan of the table, see sweep.go),
// from the resume token when it is not empty. report, when set, is called
// after every page.
func (r *Rebuilder) Channel(ctx context.Context, workspaceID, mediumID, token string, report func(Progress)) (Progress, error) {
	if !table.ValidID(workspaceID) || !table.ValidID(mediumID) {
		return Progress{}, fmt.Errorf("labelindex: bad channel %q/%q", workspaceID, mediumID)
	}
	var p Progress
	if !isSweepToken(token) {
		if err := r.channelMessages(ctx, workspaceID, mediumID, token, &p, report); err != nil {
			return p, err
		}
		token = SweepStartToken()
	}
	err := r.sweep(ctx, table.LabelPK(workspaceID, mediumID, ""), token, &p, report)
	return p, err
}

// channelMessages writes the index items of one channel's messages.
func (r *Rebuilder) channelMessages(ctx context.Context, workspaceID, mediumID, token string, p *Progress, report func(Progress)) error {
	pk := table.MessagePK(workspaceID, mediumID)
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(r.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": table.PartitionKeyAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(r.pageSize())),
	}
	if token != "" {
		sk, err := decodeToken(token, channelTokenPrefix)
		if err != nil || !table.ValidMessageSK(sk) {
			return ErrBadToken
		}
		in.ExclusiveStartKey = table.Key(pk, sk)
	}
	for {
		out, err := r.client.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("labelindex: read messages: %w", err)
		}
		if err := r.page(ctx, out.Items, p); err != nil {
			return err
		}
		// After the last page: the sweep, from its start.
		p.Token = SweepStartToken()
		if out.LastEvaluatedKey != nil {
			sk, _ := out.LastEvaluatedKey[table.SortKeyAttr].(*types.AttributeValueMemberS)
			if sk == nil {
				return errors.New("labelindex: LastEvaluatedKey without a sort key")
			}
			p.Token = encodeToken(channelTokenPrefix, sk.Value)
		}
		if report != nil {
			report(*p)
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// All rebuilds the index of every channel, scanning the table, then sweeps
// every index item of the table for orphans.
func (r *Rebuilder) All(ctx context.Context, token string, report func(Progress)) (Progress, error) {
	var p Progress
	if !isSweepToken(token) {
		if err := r.allMessages(ctx, token, &p, report); err != nil {
			return p, err
		}
		token = SweepStartToken()
	}
	err := r.sweep(ctx, table.LabelPKPrefix, token, &p, report)
	return p, err
}

// allMessages writes the index items of every message of the table.
func (r *Rebuilder) allMessages(ctx context.Context, token string, p *Progress, report func(Progress)) error {
	expr, err := expression.NewBuilder().WithFilter(
		expression.BeginsWith(expression.Name(table.PartitionKeyAttr), table.MessagePKPrefix)).Build()
	if err != nil {
		return err
	}
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(r.table),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(r.pageSize())),
	}
	if token != "" {
		raw, err := decodeToken(token, scanTokenPrefix)
		pk, sk, ok := strings.Cut(raw, "\n")
		if err != nil || !ok || pk == "" || sk == "" {
			return ErrBadToken
		}
		in.ExclusiveStartKey = table.Key(pk, sk)
	}
	for {
		out, err := r.client.Scan(ctx, in)
		if err != nil {
			return fmt.Errorf("labelindex: scan: %w", err)
		}
		if err := r.page(ctx, out.Items, p); err != nil {
			return err
		}
		p.Token = SweepStartToken()
		if out.LastEvaluatedKey != nil {
			pk, _ := out.LastEvaluatedKey[table.PartitionKeyAttr].(*types.AttributeValueMemberS)
			sk, _ := out.LastEvaluatedKey[table.SortKeyAttr].(*types.AttributeValueMemberS)
			if pk == nil || sk == nil {
				return errors.New("labelindex: LastEvaluatedKey without pk and sk")
			}
			p.Token = encodeToken(scanTokenPrefix, pk.Value+"\n"+sk.Value)
		}
		if report != nil {
			report(*p)
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func (r *Rebuilder) pageSize() int {
	if r.PageSize <= 0 {
		return 100
	}
	return r.PageSize
}

// page writes the index items of the message items read, then reads those
// messages again and repairs the ones that changed meanwhile.
func (r *Rebuilder) page(ctx context.Context, items []map[string]types.AttributeValue, p *Progress) error {
	var read []labelindex.Stored
	var reqs []types.WriteRequest
	for _, it := range items {
		s, ok, err := labelindex.Decode(it)
		if !ok {
			continue
		}
		p.Messages++
		if err != nil {
			p.Skipped++
			continue
		}
		// From nothing to s: every index item of s is put; one over the item
		// size limit is not, and no stale copy is kept (labelindex.Oversize).
		c, err := labelindex.Diff(nil, &s)
		if err != nil {
			p.Skipped++
			continue
		}
		read = append(read, s)
		for _, av := range c.Puts {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		}
		p.TooLarge += len(c.TooLarge)
		for _, k := range c.Deletes {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
		}
	}
	if err := labelindex.BatchWrite(ctx, r.client, r.table, reqs); err != nil {
		return err
	}
	p.Written += countPuts(reqs)
	p.Pages++
	if len(read) == 0 {
		return nil
	}

	now, err := r.reread(ctx, read)
	if err != nil {
		return err
	}
	for _, s := range read {
		cur, exists := now[table.MessagePK(s.WorkspaceID, s.MediumID)+"\n"+s.SK]
		if exists && labelindex.SameIndex(s, cur.Stored) {
			continue
		}
		// The message changed (or went) after it was read: move its index from
		// what this page wrote to its present state (all of it).
		var next *current
		if exists {
			next = &cur
		}
		if err := r.repair(ctx, s, next); err != nil {
			return err
		}
		p.Repaired++
	}
	return nil
}

// current is a message item as re-read: decoded, and as stored, for the
// condition that it is still so.
type current struct {
	labelindex.Stored
	item map[string]types.AttributeValue
}

// reread reads the messages again, strongly consistent, keyed by pk "\n" sk.
func (r *Rebuilder) reread(ctx context.Context, read []labelindex.Stored) (map[string]current, error) {
	out := map[string]current{}
	for start := 0; start < len(read); start += 100 {
		var keys []map[string]types.AttributeValue
		for _, s := range read[start:min(start+100, len(read))] {
			keys = append(keys, table.Key(table.MessagePK(s.WorkspaceID, s.MediumID), s.SK))
		}
		pending := map[string]types.KeysAndAttributes{r.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for round := 0; len(pending[r.table].Keys) > 0; round++ {
			if round > labelindex.MaxUnprocessedRounds {
				return nil, errors.New("labelindex: messages still unprocessed after retries")
			}
			if round > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Duration(round*round) * 25 * time.Millisecond):
				}
			}
			res, err := r.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, fmt.Errorf("labelindex: read messages again: %w", err)
			}
			for _, it := range res.Responses[r.table] {
				s, ok, err := labelindex.Decode(it)
				if ok && err == nil {
					out[table.MessagePK(s.WorkspaceID, s.MediumID)+"\n"+s.SK] = current{Stored: s, item: it}
				}
			}
			pending = res.UnprocessedKeys
		}
	}
	return out, nil
}

func countPuts(reqs []types.WriteRequest) int {
	n := 0
	for _, r := range reqs {
		if r.PutRequest != nil {
			n++
		}
	}
	return n
}

// ChannelToken is the resume token of a channel rebuild that has done every
// message up to and including the one with sort key sk.
func ChannelToken(sk string) string { return encodeToken(channelTokenPrefix, sk) }

func encodeToken(prefix, raw string) string {
	return prefix + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeToken(token, prefix string) (string, error) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok {
		return "", ErrBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", ErrBadToken
	}
	return string(raw), nil
}
