package labelindex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/table"
)

// The indexer's metrics, one EMF document per invocation (see Handle).
var (
	// MetricRecords counts the stream records done in an invocation: applied,
	// left alone because nothing indexed changed, or ignored.
	MetricRecords = metrics.Metric{Name: "IndexRecordsProcessed", Unit: metrics.Count}
	// MetricIgnored counts the records ignored, never failed: of an item under a
	// MSG# key that is not a message (MSG#ws / META, ...), or of a message item
	// that cannot be read (its images, or the item as read now).
	MetricIgnored = metrics.Metric{Name: "IndexRecordsIgnored", Unit: metrics.Count}
	// MetricUnchanged counts the records left alone because they change nothing
	// the index holds (a MODIFY of other attributes, or of nothing).
	MetricUnchanged = metrics.Metric{Name: "IndexRecordsUnchanged", Unit: metrics.Count}
	// MetricMessagesRead counts the message items read (strongly consistent):
	// one per message with index changes in the batch.
	MetricMessagesRead = metrics.Metric{Name: "IndexMessagesRead", Unit: metrics.Count}
	// MetricItemsWritten and MetricItemsDeleted count index items created or
	// replaced, and deleted.
	MetricItemsWritten = metrics.Metric{Name: "IndexItemsWritten", Unit: metrics.Count}
	MetricItemsDeleted = metrics.Metric{Name: "IndexItemsDeleted", Unit: metrics.Count}
	// MetricOversize counts the index items left out for their size (see
	// Oversize): each is a message missing from a label's pages.
	MetricOversize = metrics.Metric{Name: "IndexOversizeSkips", Unit: metrics.Count}
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
		Metrics: []metrics.Metric{MetricRecords, MetricIgnored, MetricUnchanged, MetricMessagesRead,
			MetricItemsWritten, MetricItemsDeleted, MetricOversize, MetricFailures, MetricLag},
	}
)

// Indexer keeps the label index exact from the table's stream (NEW_AND_OLD_IMAGES).
//
// It reconciles rather than replays: for every message a batch changes, it
// reads the message item as it is now (strongly consistent) and makes the
// message's index items match it, over the labels of the records' images and
// of the item (Plan). What a record says only picks the messages and the
// labels to look at, so a duplicated, replayed, reordered or retried record
// cannot leave the index different from the table: the last reconcile of a
// message reads its last state (docs/label-index.md, "Why the index
// converges").
type Indexer struct {
	client API
	table  string
	log    *slog.Logger
	// Workers bounds how many messages are reconciled at once.
	Workers int
	// DeadlineMargin is how long before the invocation's deadline (the
	// context's, set by the Lambda runtime) the indexer stops: messages not
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

// NewIndexer returns an Indexer over table.
func NewIndexer(client API, table string, log *slog.Logger) *Indexer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Indexer{client: client, table: table, log: log, Workers: 8, DeadlineMargin: 2 * time.Second}
}

// message is what a batch holds for one message key.
type message struct {
	key     MessageKey
	records []int // indexes into the batch, in stream order
	// consider are the labels of the records' readable images.
	consider []string
	// before are the labels of the first record's old image: what the index
	// should hold before the batch, the guess of which items exist.
	before []string
	// changed: some record may change an index item. A MODIFY whose images
	// have the same index items changes none.
	changed bool
	// presence: some record may create or delete the message (an INSERT, a
	// REMOVE, or an image that cannot be read), so its presence marker, which
	// the day's total counts, is reconciled too.
	presence bool
}

// Handle processes one batch of stream records: one reconcile per message the
// batch changes. When a message's reconcile fails, its first record in the
// batch is reported in BatchItemFailures (by sequence number); Lambda retries
// from the lowest one reported, so every record of that message comes again.
// Records not finished DeadlineMargin before the invocation deadline are
// failures too. Records that are not of a message item, or whose message
// cannot be read, are ignored with a warning and a metric, never failed: no
// retry could apply them.
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

	var done batchStats
	var order []*message
	byKey := map[MessageKey]*message{}
	for i, r := range ev.Records {
		pk, sk := keyString(r.Change.Keys, table.PartitionKeyAttr), keyString(r.Change.Keys, table.SortKeyAttr)
		k, ok := ParseMessageKey(pk, sk)
		if !ok {
			// The mapping's filter passes every MSG# key; not all are messages.
			ix.ignore(&done, r, "not a message item", nil)
			done.add(r)
			continue
		}
		m := byKey[k]
		if m == nil {
			m = &message{key: k}
			byKey[k] = m
			order = append(order, m)
		}
		m.records = append(m.records, i)
		old, errOld := image(r.Change.OldImage)
		new, errNew := image(r.Change.NewImage)
		if err := errors.Join(errOld, errNew); err != nil {
			// Its labels are unknown; the message as read now still decides.
			ix.ignore(&done, r, "image not readable", err)
			m.changed, m.presence = true, true
		}
		if op := events.DynamoDBOperationType(r.EventName); op != events.DynamoDBOperationTypeModify {
			m.presence = true
		}
		if len(m.records) == 1 && old != nil {
			m.before = Labels(k.WorkspaceID, k.MediumID, old.Message)
		}
		for _, s := range []*Stored{old, new} {
			if s != nil {
				m.consider = append(m.consider, Labels(k.WorkspaceID, k.MediumID, s.Message)...)
			}
		}
		if !(events.DynamoDBOperationType(r.EventName) == events.DynamoDBOperationTypeModify && old != nil && new != nil && SameIndex(*old, *new)) {
			m.changed = true
		}
	}

	failed := make([]bool, len(ev.Records))
	var toRead []MessageKey
	for _, m := range order {
		if m.changed {
			toRead = append(toRead, m.key)
			continue
		}
		for _, i := range m.records {
			done.unchanged++
			done.add(ev.Records[i])
		}
	}
	var late int // messages left for the retry by the deadline
	now, unreadable, err := Read(work, ix.client, ix.table, toRead)
	if err != nil {
		timedOut := outOfTime()
		for _, m := range order {
			if m.changed {
				failed[m.records[0]] = true
				if timedOut {
					late++
				}
			}
		}
		if !timedOut {
			ix.log.Error("label index: reading the batch's messages failed", "messages", len(toRead), "error", err.Error())
		}
	} else {
		done.read = len(toRead)
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, max(1, ix.Workers))
		for _, m := range order {
			if !m.changed {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				var cur *table.Message
				if c, ok := now[m.key]; ok {
					cur = &c.Message
				}
				var s reconcileStats
				err := work.Err()
				if err == nil {
					s, err = ix.reconcile(work, m, cur)
				}
				timedOut := err != nil && outOfTime()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed[m.records[0]] = true
					if timedOut {
						late++
					} else {
						r := ev.Records[m.records[0]]
						ix.log.Error("label index: message failed", "sequenceNumber", r.Change.SequenceNumber,
							"pk", table.MessagePK(m.key.WorkspaceID, m.key.MediumID), "sk", m.key.SK, "error", err.Error())
					}
					return
				}
				done.written += s.written
				done.deleted += s.deleted
				done.oversize += s.oversize
				if uerr, bad := unreadable[m.key]; bad {
					// Its index items are gone now, as the rebuild would leave it.
					ix.ignore(&done, ev.Records[m.records[0]], "message item not readable", uerr)
					done.ignored += len(m.records) - 1
				}
				for _, i := range m.records {
					done.add(ev.Records[i])
				}
			}()
		}
		wg.Wait()
	}
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

// ignore counts and logs a record (part) that cannot be applied and is not
// retried. The message's content stays out of the log.
func (ix *Indexer) ignore(b *batchStats, r events.DynamoDBEventRecord, why string, err error) {
	b.ignored++
	attrs := []any{"sequenceNumber", r.Change.SequenceNumber, "eventName", r.EventName,
		"pk", keyString(r.Change.Keys, table.PartitionKeyAttr), "sk", keyString(r.Change.Keys, table.SortKeyAttr), "reason", why}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	ix.log.Warn("label index: record ignored", attrs...)
}

type reconcileStats struct{ written, deleted, oversize int }

// reconcile makes the index items of one message match cur (nil: absent),
// label by label.
func (ix *Indexer) reconcile(ctx context.Context, m *message, cur *table.Message) (reconcileStats, error) {
	var s reconcileStats
	targets, over, err := Plan(m.key, cur, m.consider)
	if err != nil {
		return s, err
	}
	for _, o := range over {
		// Not retried: it could never succeed.
		s.oversize++
		ix.log.Error("label index: index item over DynamoDB's 400 KB item limit, label not indexed for this message",
			"pk", table.MessagePK(m.key.WorkspaceID, m.key.MediumID), "sk", m.key.SK, "label", o.Label, "bytes", o.Bytes)
	}
	for _, t := range targets {
		out, err := Write(ctx, ix.client, ix.table, t, slices.Contains(m.before, t.Label))
		if err != nil {
			return s, err
		}
		switch out {
		case Created, Replaced:
			s.written++
		case Deleted:
			s.deleted++
		}
	}
	if m.presence {
		if _, err := Write(ctx, ix.client, ix.table, PresenceTarget(m.key, cur != nil), false); err != nil {
			return s, err
		}
	}
	return s, nil
}

// batchStats is what an invocation did.
type batchStats struct {
	records, ignored, unchanged, read, written, deleted, oversize int
	newest                                                        time.Time
}

// add counts a record done.
func (b *batchStats) add(r events.DynamoDBEventRecord) {
	b.records++
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
	doc.Put(Directive, MetricIgnored, float64(b.ignored))
	doc.Put(Directive, MetricUnchanged, float64(b.unchanged))
	doc.Put(Directive, MetricMessagesRead, float64(b.read))
	doc.Put(Directive, MetricItemsWritten, float64(b.written))
	doc.Put(Directive, MetricItemsDeleted, float64(b.deleted))
	doc.Put(Directive, MetricOversize, float64(b.oversize))
	doc.Put(Directive, MetricFailures, float64(failed))
	if !b.newest.IsZero() {
		doc.Put(Directive, MetricLag, float64(max(0, t.Sub(b.newest).Milliseconds())))
	}
	metrics.Log(ctx, ix.log, level, msg, doc, attrs...)
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
