package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/table"
)

// The event source mapping of template.yaml (LabelIndexerStream) as the
// poller plays it: its batch size, batching window and retries. Its filter
// (message items only) is internal/table's message key prefix, which the
// template's FilterCriteria is checked against.
const (
	function       = "LabelIndexerFunction"
	batchSize      = 100
	batchingWindow = time.Second
	// MaximumRetryAttempts -1: a failed batch is retried until its oldest
	// record is MaximumRecordAgeInSeconds old, with a backoff.
	maxRecordAge  = 8 * time.Hour
	pollInterval  = 250 * time.Millisecond // Lambda polls a stream's shards four times a second
	retryDelay    = 200 * time.Millisecond // doubled after each failure,
	maxRetryDelay = 5 * time.Second        // up to this
)

// Handler is a stream function's handler, e.g. labelindex.Indexer.Handle.
type Handler func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// Stream reads a table's stream on DynamoDB Local: every shard to its end, a
// child shard only after its parent, each record once. It is not safe for
// concurrent use.
type Stream struct {
	api    *dynamodbstreams.Client
	arn    string
	latest bool // shards open at the first read start at LATEST, not TRIM_HORIZON
	listed bool
	shards []*shard
	byID   map[string]*shard
}

type shard struct {
	id, parent string
	first      bool // open at the first read
	iter, last *string
	ended      bool
}

// StreamRecord is a record as Lambda delivers it, and its shard.
type StreamRecord struct {
	Shard string
	events.DynamoDBEventRecord
}

// OpenStream opens the stream of table on the DynamoDB Local at endpoint;
// latest starts after what it holds now.
func OpenStream(ctx context.Context, endpoint, tableName string, latest bool) (*Stream, error) {
	out, err := ddblocal.NewClient(endpoint).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)})
	if err != nil {
		return nil, err
	}
	if out.Table.LatestStreamArn == nil {
		return nil, fmt.Errorf("table %s has no stream: template.yaml must enable NEW_AND_OLD_IMAGES", tableName)
	}
	return &Stream{api: ddblocal.NewStreamsClient(endpoint), arn: *out.Table.LatestStreamArn, latest: latest, byID: map[string]*shard{}}, nil
}

// Read returns every record written since the last Read, in the order Lambda
// delivers them.
func (s *Stream) Read(ctx context.Context) ([]StreamRecord, error) {
	var out []StreamRecord
	for {
		if err := s.list(ctx); err != nil {
			return out, err
		}
		progressed := false
		for _, sh := range s.shards {
			if p, ok := s.byID[sh.parent]; sh.ended || ok && !p.ended {
				continue
			}
			recs, err := s.readShard(ctx, sh)
			if err != nil {
				return out, err
			}
			out = append(out, recs...)
			progressed = progressed || sh.ended
		}
		// A shard that ended may have made its children readable.
		if !progressed {
			return out, nil
		}
	}
}

func (s *Stream) list(ctx context.Context) error {
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.arn)}
	for {
		out, err := s.api.DescribeStream(ctx, in)
		if err != nil {
			return fmt.Errorf("describe stream: %w", err)
		}
		for _, x := range out.StreamDescription.Shards {
			if id := aws.ToString(x.ShardId); s.byID[id] == nil {
				sh := &shard{id: id, parent: aws.ToString(x.ParentShardId), first: !s.listed}
				s.shards = append(s.shards, sh)
				s.byID[id] = sh
			}
		}
		if in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId; in.ExclusiveStartShardId == nil {
			s.listed = true
			return nil
		}
	}
}

// readShard reads the shard to its current end.
func (s *Stream) readShard(ctx context.Context, sh *shard) ([]StreamRecord, error) {
	var out []StreamRecord
	for {
		if sh.iter == nil {
			in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(s.arn), ShardId: aws.String(sh.id),
				ShardIteratorType: st.ShardIteratorTypeTrimHorizon}
			if sh.last != nil {
				in.ShardIteratorType, in.SequenceNumber = st.ShardIteratorTypeAfterSequenceNumber, sh.last
			} else if sh.first && s.latest {
				in.ShardIteratorType = st.ShardIteratorTypeLatest
			}
			it, err := s.api.GetShardIterator(ctx, in)
			if err != nil {
				return out, fmt.Errorf("shard %s: get iterator: %w", sh.id, err)
			}
			if sh.iter = it.ShardIterator; sh.iter == nil {
				sh.ended = true
				return out, nil
			}
		}
		got, err := s.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: sh.iter})
		var expired *st.ExpiredIteratorException
		if errors.As(err, &expired) {
			sh.iter = nil // a fresh one after the last record read
			continue
		}
		if err != nil {
			return out, fmt.Errorf("shard %s: get records: %w", sh.id, err)
		}
		for _, r := range got.Records {
			ev, err := toEvent(s.arn, r)
			if err != nil {
				return out, fmt.Errorf("shard %s: %w", sh.id, err)
			}
			sh.last = r.Dynamodb.SequenceNumber
			out = append(out, StreamRecord{Shard: sh.id, DynamoDBEventRecord: ev})
		}
		if sh.iter = got.NextShardIterator; sh.iter == nil {
			sh.ended = true
		}
		if len(got.Records) == 0 || sh.ended {
			return out, nil
		}
	}
}

// Poller invokes a handler with the message records of a stream, as the
// deployed event source mapping does in the simple case: batches of at most
// batchSize records of one shard, after the batching window, a failed batch
// retried from its first failed record until its oldest record is
// MaxRecordAge old, then discarded.
type Poller struct {
	// MaxRecordAge is the template's MaximumRecordAgeInSeconds unless a test
	// shortens it.
	MaxRecordAge time.Duration

	stream  *Stream
	handler Handler
	log     *slog.Logger

	caughtUp     chan struct{}
	caughtUpOnce sync.Once
}

// pending is a record waiting for its invocation, and when it was read: it
// was written after the previous read that came back empty handed (zero:
// unknown, the catch-up).
type pending struct {
	StreamRecord
	read, after time.Time
}

// NewPoller returns a poller of s that invokes h; log gets its warnings and,
// at debug level, each batch's lag.
func NewPoller(s *Stream, h Handler, log *slog.Logger) *Poller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{MaxRecordAge: maxRecordAge, stream: s, handler: h, log: log, caughtUp: make(chan struct{})}
}

// CaughtUp is closed once the poller has delivered everything the stream
// held when it started (the demo data of `make run`, say).
func (p *Poller) CaughtUp() <-chan struct{} { return p.caughtUp }

// Run polls until ctx ends, then returns nil. Stream errors are logged and
// retried: a local stack keeps going, as the service does.
func (p *Poller) Run(ctx context.Context) error {
	var queue []pending
	var lastEmpty time.Time
	for ctx.Err() == nil {
		started := time.Now()
		recs, err := p.stream.Read(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("stream poller: reading the stream failed, retrying", "stream", p.stream.arn, "error", err.Error())
		}
		for _, r := range recs {
			if isMessage(r) {
				queue = append(queue, pending{StreamRecord: r, read: time.Now(), after: lastEmpty})
			}
		}
		if len(recs) == 0 && err == nil {
			lastEmpty = started
		}
		for len(queue) > 0 && ctx.Err() == nil {
			n := 1
			for n < min(batchSize, len(queue)) && queue[n].Shard == queue[0].Shard {
				n++
			}
			if n < batchSize && n == len(queue) && time.Since(queue[0].read) < batchingWindow {
				break
			}
			p.deliver(ctx, queue[:n])
			queue = queue[n:]
		}
		if len(queue) == 0 && len(recs) == 0 && err == nil {
			p.caughtUpOnce.Do(func() { close(p.caughtUp) })
		}
		select {
		case <-ctx.Done():
		case <-time.After(pollInterval):
		}
	}
	return nil
}

// isMessage: the record is of a message item (the mapping's filter).
func isMessage(r StreamRecord) bool {
	pk, ok := r.Change.Keys[table.PartitionKeyAttr]
	return ok && pk.DataType() == events.DataTypeString && strings.HasPrefix(pk.String(), table.MessagePKPrefix)
}

// deliver invokes the handler with batch until it succeeds, retrying from the
// first failed record (all of it after an error), and discards the rest once
// its oldest record is MaxRecordAge old.
func (p *Poller) deliver(ctx context.Context, batch []pending) {
	delay := retryDelay
	for attempt := 1; ctx.Err() == nil; attempt++ {
		ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, len(batch))}
		for i, r := range batch {
			ev.Records[i] = r.DynamoDBEventRecord
		}
		failedAt, reason := 0, ""
		resp, err := p.handler(ctx, ev)
		switch {
		case ctx.Err() != nil:
			return // stopping: an interrupted invocation is not a failure
		case err != nil:
			reason = err.Error()
		default:
			failedAt = len(batch)
			for _, f := range resp.BatchItemFailures {
				for i, r := range batch[:failedAt] {
					if r.Change.SequenceNumber == f.ItemIdentifier {
						failedAt, reason = i, "partial batch failure"
					}
				}
			}
		}
		p.logLag(batch[:failedAt])
		if batch = batch[failedAt:]; len(batch) == 0 {
			return
		}
		if time.Since(batch[0].read) >= p.MaxRecordAge {
			p.log.Error("stream poller: batch discarded, its oldest record past the maximum record age (the OnFailure destination of a deployed stage)",
				"function", function, "shard", batch[0].Shard, "firstSequenceNumber", batch[0].Change.SequenceNumber,
				"lastSequenceNumber", batch[len(batch)-1].Change.SequenceNumber, "records", len(batch), "attempts", attempt, "reason", reason)
			return
		}
		p.log.Warn("stream poller: batch failed, retrying", "function", function, "shard", batch[0].Shard, "records", len(batch), "attempt", attempt, "retryIn", delay.String(), "reason", reason)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// logLag logs, at debug level, how long after their writes the records were
// done: since the read that found them, and since the last read before it
// that found nothing (the write happened in between).
func (p *Poller) logLag(done []pending) {
	if len(done) == 0 || !p.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	var newest, oldestAfter time.Time
	for _, r := range done {
		if r.read.After(newest) {
			newest = r.read
		}
		if !r.after.IsZero() && (oldestAfter.IsZero() || r.after.Before(oldestAfter)) {
			oldestAfter = r.after
		}
	}
	attrs := []any{"function", function, "shard", done[0].Shard, "records", len(done), "lagMinMs", time.Since(newest).Milliseconds()}
	if !oldestAfter.IsZero() {
		attrs = append(attrs, "lagMaxMs", time.Since(oldestAfter).Milliseconds())
	}
	p.log.Debug("stream poller: batch done (lag from write to done)", attrs...)
}

// toEvent converts a DynamoDB Streams API record to the record Lambda
// delivers to a function.
func toEvent(streamARN string, r st.Record) (events.DynamoDBEventRecord, error) {
	d := r.Dynamodb
	if d == nil {
		return events.DynamoDBEventRecord{}, fmt.Errorf("record %s has no dynamodb part", aws.ToString(r.EventID))
	}
	ev := events.DynamoDBEventRecord{
		AWSRegion: aws.ToString(r.AwsRegion), EventID: aws.ToString(r.EventID), EventName: string(r.EventName),
		EventSource: aws.ToString(r.EventSource), EventVersion: aws.ToString(r.EventVersion), EventSourceArn: streamARN,
		Change: events.DynamoDBStreamRecord{SequenceNumber: aws.ToString(d.SequenceNumber), SizeBytes: aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType), Keys: eventMap(d.Keys), NewImage: eventMap(d.NewImage), OldImage: eventMap(d.OldImage)},
	}
	if d.ApproximateCreationDateTime != nil {
		ev.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
	}
	return ev, nil
}

func eventMap(m map[string]st.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = eventValue(v)
	}
	return out
}

func eventValue(v st.AttributeValue) events.DynamoDBAttributeValue {
	switch x := v.(type) {
	case *st.AttributeValueMemberS:
		return events.NewStringAttribute(x.Value)
	case *st.AttributeValueMemberN:
		return events.NewNumberAttribute(x.Value)
	case *st.AttributeValueMemberB:
		return events.NewBinaryAttribute(x.Value)
	case *st.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(x.Value)
	case *st.AttributeValueMemberSS:
		return events.NewStringSetAttribute(x.Value)
	case *st.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(x.Value)
	case *st.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(x.Value)
	case *st.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(x.Value))
		for i, e := range x.Value {
			l[i] = eventValue(e)
		}
		return events.NewListAttribute(l)
	case *st.AttributeValueMemberM:
		return events.NewMapAttribute(eventMap(x.Value))
	}
	return events.NewNullAttribute() // NULL, and nothing else the API sends
}

// ApplyEvent writes to the table what a stream event's records say happened,
// in their order: a record's new image is put, a record without one deletes
// its key. The label indexer reconciles each record's message with the table,
// so a sample stream event indexes something only once the table holds the
// messages it describes.
func ApplyEvent(ctx context.Context, db *dynamodb.Client, tableName string, ev events.DynamoDBEvent) error {
	for _, r := range ev.Records {
		key, err := labelindex.FromEventMap(r.Change.Keys)
		if err != nil {
			return fmt.Errorf("record %s: keys: %w", r.Change.SequenceNumber, err)
		}
		if len(r.Change.NewImage) == 0 {
			_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tableName), Key: key})
		} else {
			var item map[string]ddbtypes.AttributeValue
			if item, err = labelindex.FromEventMap(r.Change.NewImage); err == nil {
				_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: item})
			}
		}
		if err != nil {
			return fmt.Errorf("record %s: %w", r.Change.SequenceNumber, err)
		}
	}
	return nil
}
