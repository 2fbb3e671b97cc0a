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

	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/table"
)

// The indexer's metrics, one EMF document per invocation (see Handle).
var (
	// MetricRecords counts the stream records applied (or ignored as not a
	// message) in an invocation.
	MetricRecords = metrics.Metric{Name: "IndexRecordsProcessed", Unit: metrics.Count}
	// MetricItemsWritten and MetricItemsDeleted count index items put and
	// deleted by the records applied.
	MetricItemsWritten = metrics.Metric{Name: "IndexItemsWritten", Unit: metrics.Count}
	MetricItemsDeleted = metrics.Metric{Name: "IndexItemsDeleted", Unit: metrics.Count}
	// MetricFailures counts the records reported in BatchItemFailures (Lambda
	// retries from the first; a record that keeps failing ends in the DLQ).
	MetricFailures = metrics.Metric{Name: "IndexBatchItemFailures", Unit: metrics.Count}
	// MetricLag is the age, when the invocation ends, of the newest record it
	// applied (its ApproximateCreationDateTime, whole seconds): how far the
	// label index is behind the table. Absent when no record was applied.
	MetricLag = metrics.Metric{Name: "IndexLag", Unit: metrics.Milliseconds}

	// Directive is the indexer's dimension set and metrics.
	Directive = &metrics.Directive{
		Dimensions: [][]string{{metrics.DimStage}},
		Metrics:    []metrics.Metric{MetricRecords, MetricItemsWritten, MetricItemsDeleted, MetricFailures, MetricLag},
	}
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
	// Stage names the stage in the metrics (the Stage dimension). Empty: no
	// metrics, and the invocation's summary line follows the log level.
	Stage string
	// Now is the clock of the lag metric; nil means time.Now.
	Now func() time.Time
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
	var done batchStats
	sem := make(chan struct{}, max(1, ix.Workers))
	for _, k := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(idx []int) {
			defer func() { <-sem; wg.Done() }()
			for _, i := range idx {
				err := work.Err()
				var c Change
				if err == nil {
					c, err = ix.record(work, ev.Records[i])
				}
				r := ev.Records[i]
				if err == nil {
					mu.Lock()
					done.add(r, c)
					mu.Unlock()
					continue
				}
				timedOut := outOfTime()
				mu.Lock()
				failed[i] = true
				if timedOut {
					late++
				}
				mu.Unlock()
				if !timedOut {
					ix.log.Error("label index: record failed", "sequenceNumber", r.Change.SequenceNumber,
						"eventName", r.EventName, "pk", keyString(r.Change.Keys, table.PartitionKeyAttr),
						"sk", keyString(r.Change.Keys, table.SortKeyAttr), "error", err.Error())
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
	ix.summary(ctx, len(ev.Records), len(resp.BatchItemFailures), done)
	return resp, nil
}

// batchStats is what an invocation applied.
type batchStats struct {
	records, written, deleted int
	newest                    time.Time
}

func (b *batchStats) add(r events.DynamoDBEventRecord, c Change) {
	b.records++
	b.written += len(c.Puts)
	b.deleted += len(c.Deletes)
	if t := r.Change.ApproximateCreationDateTime.Time; t.After(b.newest) {
		b.newest = t
	}
}

// summary writes the invocation's one line: a warning when records failed,
// and, with a Stage, the EMF document of the invocation.
func (ix *Indexer) summary(ctx context.Context, records, failed int, b batchStats) {
	level, msg := slog.LevelInfo, "label index: batch"
	if failed > 0 {
		level, msg = slog.LevelWarn, "label index: batch with failures"
	}
	attrs := []slog.Attr{slog.Int("records", records), slog.Int("failed", failed)}
	if ix.Stage == "" {
		ix.log.LogAttrs(ctx, level, msg, attrs...)
		return
	}
	now := time.Now
	if ix.Now != nil {
		now = ix.Now
	}
	t := now()
	doc := metrics.New(t)
	doc.Dimension(metrics.DimStage, ix.Stage)
	doc.Put(Directive, MetricRecords, float64(b.records))
	doc.Put(Directive, MetricItemsWritten, float64(b.written))
	doc.Put(Directive, MetricItemsDeleted, float64(b.deleted))
	doc.Put(Directive, MetricFailures, float64(failed))
	if !b.newest.IsZero() {
		doc.Put(Directive, MetricLag, float64(max(0, t.Sub(b.newest).Milliseconds())))
	}
	metrics.Log(ctx, ix.log, level, msg, doc, attrs...)
}

// record applies one stream record and returns what it wrote.
func (ix *Indexer) record(ctx context.Context, r events.DynamoDBEventRecord) (Change, error) {
	// The event source mapping only sends message records (FilterCriteria on
	// the pk prefix); anything else is ignored here too.
	if !strings.HasPrefix(keyString(r.Change.Keys, table.PartitionKeyAttr), table.MessagePKPrefix) {
		return Change{}, nil
	}
	old, err := image(r.Change.OldImage)
	if err != nil {
		return Change{}, fmt.Errorf("old image: %w", err)
	}
	new, err := image(r.Change.NewImage)
	if err != nil {
		return Change{}, fmt.Errorf("new image: %w", err)
	}
	switch events.DynamoDBOperationType(r.EventName) {
	case events.DynamoDBOperationTypeInsert:
		old = nil
		if new == nil {
			return Change{}, errors.New("INSERT without a new image: the stream must be NEW_AND_OLD_IMAGES")
		}
	case events.DynamoDBOperationTypeModify:
		if old == nil || new == nil {
			return Change{}, errors.New("MODIFY without both images: the stream must be NEW_AND_OLD_IMAGES")
		}
	case events.DynamoDBOperationTypeRemove:
		new = nil
		if old == nil {
			return Change{}, errors.New("REMOVE without an old image: the stream must be NEW_AND_OLD_IMAGES")
		}
	default:
		return Change{}, fmt.Errorf("unknown event %q", r.EventName)
	}
	c, err := Diff(old, new)
	if err != nil {
		return Change{}, err
	}
	for _, o := range c.TooLarge {
		// Not retried: it could never succeed. The message's content stays out
		// of the log.
		ix.log.Error("label index: index item over DynamoDB's 400 KB item limit, label not indexed for this message",
			"sequenceNumber", r.Change.SequenceNumber, "pk", keyString(r.Change.Keys, table.PartitionKeyAttr),
			"sk", keyString(r.Change.Keys, table.SortKeyAttr), "label", o.Label, "bytes", o.Bytes)
	}
	return c, apply(ctx, ix.client, ix.table, c)
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
	return keyString(r.Change.Keys, table.PartitionKeyAttr) + "\x00" + keyString(r.Change.Keys, table.SortKeyAttr)
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
