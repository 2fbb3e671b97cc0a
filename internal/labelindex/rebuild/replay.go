package rebuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/table"
)

// BatchInfo is the DDBStreamBatchInfo of the record Lambda sends to a stream
// event source mapping's on-failure destination when it gives up on a batch:
// where the batch's records are, not the records themselves.
type BatchInfo struct {
	ShardID             string `json:"shardId"`
	StartSequenceNumber string `json:"startSequenceNumber"`
	EndSequenceNumber   string `json:"endSequenceNumber"`
	BatchSize           int    `json:"batchSize"`
	StreamArn           string `json:"streamArn"`
}

// ErrNotStreamFailure means a queue message is not a stream batch's failure
// record.
var ErrNotStreamFailure = errors.New("not the failure record of a stream batch (no DDBStreamBatchInfo)")

// ParseFailure reads the body of a DLQ message.
func ParseFailure(body string) (BatchInfo, error) {
	var rec struct {
		Info *BatchInfo `json:"DDBStreamBatchInfo"`
	}
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		return BatchInfo{}, fmt.Errorf("%w: %v", ErrNotStreamFailure, err)
	}
	i := rec.Info
	if i == nil || i.ShardID == "" || i.StreamArn == "" || !isSeq(i.StartSequenceNumber) || !isSeq(i.EndSequenceNumber) ||
		compareSeq(i.StartSequenceNumber, i.EndSequenceNumber) > 0 {
		return BatchInfo{}, ErrNotStreamFailure
	}
	return *i, nil
}

// StreamAPI reads a table's stream.
type StreamAPI interface {
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// Replayed is what a replay did.
type Replayed struct {
	Records  int // records of the range read again
	Messages int // messages reconciled
	Changed  int // index items created, replaced or deleted
	// Complete: the stream still held every record of the range, so every
	// message the batch touched is repaired.
	Complete bool
	// Channels are the channels (workspace/medium) of the records read. When
	// the range is not complete, the channels to rebuild; none known means
	// every channel.
	Channels []string
}

// maxEmptyPages bounds the empty answers of an open shard before a replay
// gives up on reaching the end of its range.
const maxEmptyPages = 20

// Replay reads the records of a failed batch again from the stream (from its
// first sequence number, while the stream holds it) and reconciles every
// message they touch with the table, as the indexer would have, with the
// rebuild's guarded writes. Records no longer in the stream cannot be known:
// the result is not Complete, and names the channels seen.
func (r *Rebuilder) Replay(ctx context.Context, streams StreamAPI, info BatchInfo) (Replayed, error) {
	var res Replayed
	it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn: aws.String(info.StreamArn), ShardId: aws.String(info.ShardID),
		ShardIteratorType: st.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(info.StartSequenceNumber),
	})
	var trimmed *st.TrimmedDataAccessException
	var gone *st.ResourceNotFoundException
	if errors.As(err, &trimmed) || errors.As(err, &gone) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("labelindex: stream iterator: %w", err)
	}
	consider := map[labelindex.MessageKey][]string{}
	var order []labelindex.MessageKey
	channels := map[string]bool{}
	iter, first, last, empty := it.ShardIterator, "", "", 0
	for iter != nil && empty < maxEmptyPages && (last == "" || compareSeq(last, info.EndSequenceNumber) < 0) {
		out, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
		if errors.As(err, &trimmed) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("labelindex: stream records: %w", err)
		}
		if iter = out.NextShardIterator; len(out.Records) == 0 {
			empty++
		}
		for _, rec := range out.Records {
			d := rec.Dynamodb
			if d == nil || compareSeq(aws.ToString(d.SequenceNumber), info.EndSequenceNumber) > 0 {
				iter = nil
				break
			}
			if first == "" {
				first = aws.ToString(d.SequenceNumber)
			}
			last = aws.ToString(d.SequenceNumber)
			res.Records++
			pk, _ := d.Keys[table.PartitionKeyAttr].(*st.AttributeValueMemberS)
			sk, _ := d.Keys[table.SortKeyAttr].(*st.AttributeValueMemberS)
			if pk == nil || sk == nil {
				continue
			}
			k, ok := labelindex.ParseMessageKey(pk.Value, sk.Value)
			if !ok {
				continue
			}
			channels[k.WorkspaceID+"/"+k.MediumID] = true
			if _, seen := consider[k]; !seen {
				order = append(order, k)
				consider[k] = []string{}
			}
			for _, img := range []map[string]st.AttributeValue{d.OldImage, d.NewImage} {
				item, err := attributevalue.FromDynamoDBStreamsMap(img)
				if err != nil {
					continue
				}
				if s, ok, err := labelindex.Decode(item); ok && err == nil {
					consider[k] = append(consider[k], labelindex.Labels(k.WorkspaceID, k.MediumID, s.Message)...)
				}
			}
		}
	}
	res.Channels = slices.Sorted(maps.Keys(channels))
	res.Complete = first == info.StartSequenceNumber && last == info.EndSequenceNumber
	now, _, err := labelindex.Read(ctx, r.client, r.table, order)
	if err != nil {
		return res, err
	}
	for _, k := range order {
		var cur *labelindex.Current
		if c, ok := now[k]; ok {
			cur = &c
		}
		n, err := r.reconcile(ctx, k, consider[k], cur)
		res.Changed += n
		if err != nil {
			return res, err
		}
		res.Messages++
	}
	return res, nil
}

// isSeq: a stream sequence number is a decimal string.
func isSeq(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// compareSeq orders decimal sequence numbers of any length.
func compareSeq(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}
