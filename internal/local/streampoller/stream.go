package streampoller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// StreamsAPI is the part of the DynamoDB Streams client the poller uses.
type StreamsAPI interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// StreamARN is the table's current stream.
func StreamARN(ctx context.Context, ddb interface {
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}, table string) (string, error) {
	out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return "", err
	}
	if out.Table.LatestStreamArn == nil {
		return "", fmt.Errorf("table %s has no stream: template.yaml must enable NEW_AND_OLD_IMAGES", table)
	}
	return *out.Table.LatestStreamArn, nil
}

// getRecordsLimit is the most records one GetRecords call returns.
const getRecordsLimit = 1000

// refreshEvery bounds how long a new shard can go unseen: a closing shard
// triggers a DescribeStream at once, this catches anything else.
const refreshEvery = 10 * time.Second

// Stream reads a DynamoDB stream the way Lambda's event source mapping does:
// every shard, a child shard only after its parent is finished (so the
// records of an item stay in order across a split), through the mapping's
// filter. It is not safe for concurrent use.
type Stream struct {
	api    StreamsAPI
	arn    string
	start  st.ShardIteratorType
	filter Filter
	now    func() time.Time

	shards    []*shard // in the order DescribeStream lists them
	byID      map[string]*shard
	initial   bool // the first DescribeStream is done
	stale     bool // a shard ended since the last DescribeStream
	refreshed time.Time
}

type shard struct {
	id, parent string
	// first: the shard existed when reading started, so it starts at the
	// mapping's StartingPosition; later shards start at their beginning.
	first bool
	iter  *string
	last  string // sequence number of the last record read
	ended bool   // closed, and read to its end
	// tipAt is when the last GetRecords that reached the shard's tip was
	// sent: a record read later was written after it. Zero while catching up.
	tipAt   time.Time
	pending []pending // read, filtered, not yet delivered
}

// pending is a record waiting for its invocation.
type pending struct {
	rec     events.DynamoDBEventRecord
	fetched time.Time // when GetRecords returned it
	after   time.Time // it was written after this (zero: unknown)
}

// NewStream reads the stream arn starting at startingPosition (TRIM_HORIZON
// or LATEST) for the shards open at the start.
func NewStream(api StreamsAPI, arn, startingPosition string, filter Filter) *Stream {
	return &Stream{api: api, arn: arn, start: st.ShardIteratorType(startingPosition), filter: filter,
		now: time.Now, byID: map[string]*shard{}}
}

// ARN is the stream read.
func (s *Stream) ARN() string { return s.arn }

// ReadAll returns every record that passes the filter and was not read
// before, from every shard, each shard read to its current end and a child
// only after its parent: the order Lambda delivers them in.
func (s *Stream) ReadAll(ctx context.Context) ([]events.DynamoDBEventRecord, error) {
	var out []events.DynamoDBEventRecord
	for {
		if err := s.refresh(ctx, true); err != nil {
			return out, err
		}
		progressed := false
		for _, sh := range s.shards {
			if s.finished(sh) || !s.ready(sh) {
				continue
			}
			for !sh.ended {
				n, tip, err := s.fetch(ctx, sh)
				if err != nil {
					return out, err
				}
				progressed = progressed || n > 0 || sh.ended
				if tip {
					break
				}
			}
			for _, p := range sh.pending {
				out = append(out, p.rec)
			}
			sh.pending = nil
		}
		// A shard that ended may have made its children ready.
		if !progressed {
			return out, nil
		}
	}
}

// refresh lists the stream's shards (every page of DescribeStream) when a
// shard ended, when forced, or when the list is older than refreshEvery.
func (s *Stream) refresh(ctx context.Context, force bool) error {
	if s.initial && !force && !s.stale && s.now().Sub(s.refreshed) < refreshEvery {
		return nil
	}
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.arn)}
	for {
		out, err := s.api.DescribeStream(ctx, in)
		if err != nil {
			return fmt.Errorf("describe stream: %w", err)
		}
		d := out.StreamDescription
		if d == nil {
			return errors.New("describe stream: no description")
		}
		for _, x := range d.Shards {
			id := aws.ToString(x.ShardId)
			if _, ok := s.byID[id]; ok || id == "" {
				continue
			}
			sh := &shard{id: id, parent: aws.ToString(x.ParentShardId), first: !s.initial}
			s.shards = append(s.shards, sh)
			s.byID[id] = sh
		}
		if d.LastEvaluatedShardId == nil {
			break
		}
		in.ExclusiveStartShardId = d.LastEvaluatedShardId
	}
	s.initial, s.stale, s.refreshed = true, false, s.now()
	return nil
}

// finished: ended, and every record of it delivered.
func (s *Stream) finished(sh *shard) bool { return sh.ended && len(sh.pending) == 0 }

// ready: the shard may be read, its parent (if the stream still has it) being
// finished.
func (s *Stream) ready(sh *shard) bool {
	p, ok := s.byID[sh.parent]
	return !ok || s.finished(p)
}

// fetch makes one GetRecords call on the shard and queues what passes the
// filter; tip reports that the call reached the shard's current end.
func (s *Stream) fetch(ctx context.Context, sh *shard) (n int, tip bool, err error) {
	if sh.iter == nil {
		in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(s.arn), ShardId: aws.String(sh.id),
			ShardIteratorType: st.ShardIteratorTypeTrimHorizon}
		switch {
		case sh.last != "":
			in.ShardIteratorType, in.SequenceNumber = st.ShardIteratorTypeAfterSequenceNumber, aws.String(sh.last)
		case sh.first:
			in.ShardIteratorType = s.start
		}
		it, err := s.api.GetShardIterator(ctx, in)
		if err != nil {
			var gone *st.ResourceNotFoundException
			if errors.As(err, &gone) && sh.parent != "" {
				// Trimmed away while waiting: nothing left to read.
				sh.ended, s.stale = true, true
				return 0, true, nil
			}
			return 0, false, fmt.Errorf("shard %s: get iterator: %w", sh.id, err)
		}
		sh.iter = it.ShardIterator
		if sh.iter == nil {
			sh.ended, s.stale = true, true
			return 0, true, nil
		}
	}
	sent := s.now()
	out, err := s.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: sh.iter, Limit: aws.Int32(getRecordsLimit)})
	if err != nil {
		var expired *st.ExpiredIteratorException
		var trimmed *st.TrimmedDataAccessException
		switch {
		case errors.As(err, &expired):
			sh.iter = nil // a fresh one after the last record read, next time
			return 0, false, nil
		case errors.As(err, &trimmed):
			sh.iter, sh.last = nil, "" // what is left, from the start
			return 0, false, fmt.Errorf("shard %s: records trimmed before they were read: %w", sh.id, err)
		}
		return 0, false, fmt.Errorf("shard %s: get records: %w", sh.id, err)
	}
	got := s.now()
	for _, r := range out.Records {
		ev, err := ToEvent(s.arn, r)
		if err != nil {
			return n, false, fmt.Errorf("shard %s: %w", sh.id, err)
		}
		sh.last = ev.Change.SequenceNumber
		if s.filter.Match(ev) {
			sh.pending = append(sh.pending, pending{rec: ev, fetched: got, after: sh.tipAt})
			n++
		}
	}
	tip = len(out.Records) < getRecordsLimit
	if tip {
		sh.tipAt = sent
	} else {
		sh.tipAt = time.Time{}
	}
	sh.iter = out.NextShardIterator
	if sh.iter == nil {
		sh.ended, s.stale, tip = true, true, true
	}
	return n, tip, nil
}
