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
	"sync"
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
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
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
	Orphans    int // orphaned index items and presence markers deleted by the sweep

	Recounted int // days whose label counters were recounted (recount.go)

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
	if !isSweepToken(token) && !isRecountToken(token) {
		if err := r.channelMessages(ctx, workspaceID, mediumID, token, &p, report); err != nil {
			return p, err
		}
		token = SweepStartToken()
	}
	if !isRecountToken(token) {
		if err := r.sweep(ctx, table.LabelPK(workspaceID, mediumID, ""), table.CounterPK(workspaceID, mediumID), token, &p, report); err != nil {
			return p, err
		}
	}
	return p, r.recountPhase(ctx, [][2]string{{workspaceID, mediumID}}, &p, report)
}

// recountToken resumes a rebuild at its last phase, the recount (which starts
// over: a day recounted twice is recounted right).
const recountToken = "r1."

func isRecountToken(token string) bool { return token == recountToken }

// recountPhase recounts the counters of the channels; until it is done, the
// token resumes it.
func (r *Rebuilder) recountPhase(ctx context.Context, channels [][2]string, p *Progress, report func(Progress)) error {
	p.Token = recountToken
	for _, c := range channels {
		if err := r.recount(ctx, c[0], c[1], p); err != nil {
			return err
		}
	}
	p.Token = ""
	if report != nil {
		report(*p)
	}
	return nil
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
	if !isSweepToken(token) && !isRecountToken(token) {
		if err := r.allMessages(ctx, token, &p, report); err != nil {
			return p, err
		}
		token = SweepStartToken()
	}
	if !isRecountToken(token) {
		if err := r.sweep(ctx, table.LabelPKPrefix, "", token, &p, report); err != nil {
			return p, err
		}
	}
	channels, err := r.channels(ctx)
	if err != nil {
		p.Token = recountToken
		return p, err
	}
	return p, r.recountPhase(ctx, channels, &p, report)
}

// channels lists the channels with messages or counters (a Scan of the
// table, keys only).
func (r *Rebuilder) channels(ctx context.Context) ([][2]string, error) {
	pg := dynamodb.NewScanPaginator(r.client, &dynamodb.ScanInput{
		TableName:                aws.String(r.table),
		FilterExpression:         aws.String("begins_with(#pk, :m) OR begins_with(#pk, :c)"),
		ProjectionExpression:     aws.String("#pk"),
		ExpressionAttributeNames: map[string]string{"#pk": table.PartitionKeyAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":m": &types.AttributeValueMemberS{Value: table.MessagePKPrefix},
			":c": &types.AttributeValueMemberS{Value: table.CounterPKPrefix},
		},
	})
	seen := map[[2]string]bool{}
	var out [][2]string
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("labelindex: scan channels: %w", err)
		}
		for _, it := range page.Items {
			pk, _ := it[table.PartitionKeyAttr].(*types.AttributeValueMemberS)
			if pk == nil {
				continue
			}
			ws, medium, ok := table.ParseMessagePK(pk.Value)
			if !ok {
				ws, medium, ok = table.ParseCounterPK(pk.Value)
			}
			if c := [2]string{ws, medium}; ok && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
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

// finishTimeout bounds how long a page goes on after its context ended:
// once its first index write is sent, its writes, re-read and repair finish
// under a context of their own, so that an interruption never leaves a
// page's stale write unrepaired.
var finishTimeout = 2 * time.Minute

// ErrMayBeStale wraps the error of a page that could not finish its re-read
// and repair: index items it wrote may be stale (a label the message lost
// meanwhile) until the rebuild runs again over that page (its resume token
// covers it).
var ErrMayBeStale = errors.New("the label index may be stale for messages of the last page")

// page writes the index items of the message items read, then reads those
// messages again and repairs the ones that changed meanwhile. Once it starts
// writing it finishes, whatever happens to ctx (within finishTimeout).
func (r *Rebuilder) page(ctx context.Context, items []map[string]types.AttributeValue, p *Progress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var read []labelindex.Stored
	for _, it := range items {
		s, ok, err := labelindex.Decode(it)
		if !ok {
			pk, _ := it[table.PartitionKeyAttr].(*types.AttributeValueMemberS)
			if pk != nil && strings.HasPrefix(pk.Value, table.MessagePKPrefix) {
				// Not a message, under a message partition: counted, not indexed.
				p.Skipped++
			}
			continue
		}
		p.Messages++
		if err != nil {
			p.Skipped++
			continue
		}
		read = append(read, s)
	}
	p.Pages++
	if len(read) == 0 {
		return nil
	}
	fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	werr := r.writePage(fin, read, p)
	// Re-read even after a failed write: what was written must be repaired.
	now, _, err := labelindex.Read(fin, r.client, r.table, keysOf(read))
	if err != nil {
		return errors.Join(werr, fmt.Errorf("%w: %w", ErrMayBeStale, err))
	}
	for _, s := range read {
		cur, exists := now[s.Key()]
		if exists && labelindex.SameIndex(s, cur.Stored) {
			continue
		}
		// The message changed (or went) after it was read: move its index from
		// what this page wrote to its present state (all of it).
		var next *labelindex.Current
		if exists {
			next = &cur
		}
		if err := r.repair(fin, s, next); err != nil {
			return errors.Join(werr, fmt.Errorf("%w: %w", ErrMayBeStale, err))
		}
		p.Repaired++
	}
	if werr == nil {
		// A page whose context ended while it finished is not done.
		werr = ctx.Err()
	}
	return werr
}

// writePage writes the index items of the messages, a few messages at a time,
// each label with its own conditional write (labelindex.Transition).
func (r *Rebuilder) writePage(ctx context.Context, read []labelindex.Stored, p *Progress) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, s := range read {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			targets, over, err := labelindex.Plan(s.Key(), &s.Message, nil)
			targets = append(targets, labelindex.PresenceTarget(s.Key(), true))
			written := 0
			for _, t := range targets {
				if err != nil {
					break
				}
				var out labelindex.Outcome
				// A rebuild mostly finds the items there already.
				out, err = labelindex.Write(ctx, r.client, r.table, t, true)
				if !t.Marker && (out == labelindex.Created || out == labelindex.Replaced) {
					written++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			p.Written += written
			p.TooLarge += len(over)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func keysOf(ss []labelindex.Stored) []labelindex.MessageKey {
	out := make([]labelindex.MessageKey, len(ss))
	for i, s := range ss {
		out[i] = s.Key()
	}
	return out
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
