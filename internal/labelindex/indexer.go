package labelindex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/messages"
)

// Indexer keeps the label index exact from the table's stream (NEW_AND_OLD_IMAGES).
//
// Each record's effect depends only on its own images: every index item of the
// new state is put (so an item that went missing comes back with the next
// change of its message), the items of the labels the old state had and the
// new one lacks are deleted. Puts and deletes are idempotent, and the
// records of one item arrive in order within a shard (Lambda keeps that order,
// also with bisection, retries and ParallelizationFactor), so a replayed
// batch, or a batch retried from any record on, converges to the index of the
// item's last state.
type Indexer struct {
	client WriteAPI
	table  string
	log    *slog.Logger
	// Workers bounds how many messages are indexed at once; the records of one
	// message always run one after another, in stream order.
	Workers int
	// DeadlineMargin is how long before the invocation's deadline (the
	// context's, set by the Lambda runtime) the indexer stops: records not
	// finished by then are reported in BatchItemFailures, so that Lambda
	// retries from them instead of the invocation timing out (which would
	// retry the whole batch and count as a function error). At most half the
	// time left when the batch starts.
	DeadlineMargin time.Duration
}

// NewIndexer returns an Indexer writing to table.
func NewIndexer(client WriteAPI, table string, log *slog.Logger) *Indexer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Indexer{client: client, table: table, log: log, Workers: 8, DeadlineMargin: 2 * time.Second}
}

// Handle processes one batch of stream records. A record that cannot be
// applied is reported in BatchItemFailures (by its sequence number) and the
// later records of the same message in the batch are left alone: Lambda
// retries from the lowest failed sequence number, so they come again, in
// order, after it. The records of other messages are applied. Records not
// finished DeadlineMargin before the invocation deadline are failures too.
func (ix *Indexer) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	work := ctx
	if deadline, ok := ctx.Deadline(); ok {
		margin := min(ix.DeadlineMargin, time.Until(deadline)/2)
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, deadline.Add(-margin))
		defer cancel()
	}
	// Out of time: the invocation's own context is still live, only ours ended.
	outOfTime := func() bool { return work.Err() != nil && ctx.Err() == nil }

	// Group by message key, keeping stream order inside each group.
	var order []string
	groups := map[string][]int{}
	for i, r := range ev.Records {
		k := recordKey(r)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}

	failed := make([]bool, len(ev.Records))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var late int // messages left for the retry by the deadline
	sem := make(chan struct{}, max(1, ix.Workers))
	for _, k := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(idx []int) {
			defer func() { <-sem; wg.Done() }()
			for _, i := range idx {
				err := work.Err()
				if err == nil {
					err = ix.record(work, ev.Records[i])
				}
				if err == nil {
					continue
				}
				r := ev.Records[i]
				timedOut := outOfTime()
				mu.Lock()
				failed[i] = true
				if timedOut {
					late++
				}
				mu.Unlock()
				if !timedOut {
					ix.log.Error("label index: record failed", "sequenceNumber", r.Change.SequenceNumber,
						"eventName", r.EventName, "pk", keyString(r.Change.Keys, messages.PartitionKeyAttr),
						"sk", keyString(r.Change.Keys, messages.SortKeyAttr), "error", err.Error())
				}
				return
			}
		}(groups[k])
	}
	wg.Wait()
	if late > 0 {
		ix.log.Warn("label index: invocation deadline near, records left for Lambda to retry",
			"messages", late, "margin", ix.DeadlineMargin.String())
	}

	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				events.DynamoDBBatchItemFailure{ItemIdentifier: ev.Records[i].Change.SequenceNumber})
		}
	}
	if n := len(resp.BatchItemFailures); n > 0 {
		ix.log.Warn("label index: batch with failures", "records", len(ev.Records), "failed", n)
	}
	return resp, nil
}

// record applies one stream record.
func (ix *Indexer) record(ctx context.Context, r events.DynamoDBEventRecord) error {
	// The event source mapping only sends message records (FilterCriteria on
	// the pk prefix); anything else is ignored here too.
	if !strings.HasPrefix(keyString(r.Change.Keys, messages.PartitionKeyAttr), messages.MessagePKPrefix) {
		return nil
	}
	old, err := image(r.Change.OldImage)
	if err != nil {
		return fmt.Errorf("old image: %w", err)
	}
	new, err := image(r.Change.NewImage)
	if err != nil {
		return fmt.Errorf("new image: %w", err)
	}
	switch events.DynamoDBOperationType(r.EventName) {
	case events.DynamoDBOperationTypeInsert:
		old = nil
		if new == nil {
			return errors.New("INSERT without a new image: the stream must be NEW_AND_OLD_IMAGES")
		}
	case events.DynamoDBOperationTypeModify:
		if old == nil || new == nil {
			return errors.New("MODIFY without both images: the stream must be NEW_AND_OLD_IMAGES")
		}
	case events.DynamoDBOperationTypeRemove:
		new = nil
		if old == nil {
			return errors.New("REMOVE without an old image: the stream must be NEW_AND_OLD_IMAGES")
		}
	default:
		return fmt.Errorf("unknown event %q", r.EventName)
	}
	c, err := Diff(old, new)
	if err != nil {
		return err
	}
	for _, o := range c.TooLarge {
		// Not retried: it could never succeed. The message's content stays out
		// of the log.
		ix.log.Error("label index: index item over DynamoDB's 400 KB item limit, label not indexed for this message",
			"sequenceNumber", r.Change.SequenceNumber, "pk", keyString(r.Change.Keys, messages.PartitionKeyAttr),
			"sk", keyString(r.Change.Keys, messages.SortKeyAttr), "label", o.Label, "bytes", o.Bytes)
	}
	return apply(ctx, ix.client, ix.table, c)
}

// image decodes a message image; nil for an absent image.
func image(img map[string]events.DynamoDBAttributeValue) (*Stored, error) {
	if len(img) == 0 {
		return nil, nil
	}
	item, err := FromEventMap(img)
	if err != nil {
		return nil, err
	}
	s, ok, err := Decode(item)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("not a message item")
	}
	return &s, nil
}

func recordKey(r events.DynamoDBEventRecord) string {
	return keyString(r.Change.Keys, messages.PartitionKeyAttr) + "\x00" + keyString(r.Change.Keys, messages.SortKeyAttr)
}

func keyString(keys map[string]events.DynamoDBAttributeValue, name string) string {
	v, ok := keys[name]
	if !ok || v.DataType() != events.DataTypeString {
		return ""
	}
	return v.String()
}

// FromEventMap converts a Lambda stream image to SDK attribute values.
func FromEventMap(m map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		av, err := FromEvent(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

// FromEvent converts one Lambda stream attribute value to an SDK attribute value.
func FromEvent(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		l := v.List()
		out := make([]types.AttributeValue, len(l))
		for i, e := range l {
			av, err := FromEvent(e)
			if err != nil {
				return nil, err
			}
			out[i] = av
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case events.DataTypeMap:
		m, err := FromEventMap(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unsupported attribute type %v", v.DataType())
}
