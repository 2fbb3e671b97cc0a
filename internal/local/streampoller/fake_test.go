package streampoller

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// fakeStreams is a DynamoDB stream in memory, for the logic that DynamoDB
// Local never shows: shards that split and close, DescribeStream pages.
type fakeStreams struct {
	mu       sync.Mutex
	shards   []*fakeShard
	pageSize int // shards per DescribeStream page
	seq      int
	describe int // DescribeStream calls
}

type fakeShard struct {
	id, parent string
	records    []st.Record
	closed     bool
}

func (f *fakeStreams) addShard(id, parent string) *fakeShard {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeShard{id: id, parent: parent}
	f.shards = append(f.shards, s)
	return s
}

// put appends a record for key pk to the shard and returns its sequence number.
func (f *fakeStreams) put(s *fakeShard, pk string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	seq := fmt.Sprintf("%021d", f.seq)
	s.records = append(s.records, st.Record{
		EventID: aws.String("ev-" + seq), EventName: st.OperationTypeInsert, EventSource: aws.String("aws:dynamodb"),
		AwsRegion: aws.String("us-east-1"), EventVersion: aws.String("1.1"),
		Dynamodb: &st.StreamRecord{
			SequenceNumber: aws.String(seq), StreamViewType: st.StreamViewTypeNewAndOldImages,
			Keys:     map[string]st.AttributeValue{"pk": &st.AttributeValueMemberS{Value: pk}, "sk": &st.AttributeValueMemberS{Value: seq}},
			NewImage: map[string]st.AttributeValue{"pk": &st.AttributeValueMemberS{Value: pk}, "sk": &st.AttributeValueMemberS{Value: seq}},
		},
	})
	return seq
}

func (f *fakeStreams) close(s *fakeShard) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.closed = true
}

func (f *fakeStreams) find(id string) *fakeShard {
	for _, s := range f.shards {
		if s.id == id {
			return s
		}
	}
	return nil
}

func (f *fakeStreams) DescribeStream(_ context.Context, in *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describe++
	start := 0
	if in.ExclusiveStartShardId != nil {
		for i, s := range f.shards {
			if s.id == *in.ExclusiveStartShardId {
				start = i + 1
			}
		}
	}
	size := f.pageSize
	if size == 0 {
		size = 100
	}
	end := min(start+size, len(f.shards))
	d := &st.StreamDescription{StreamArn: in.StreamArn, StreamStatus: st.StreamStatusEnabled}
	for _, s := range f.shards[start:end] {
		x := st.Shard{ShardId: aws.String(s.id)}
		if s.parent != "" {
			x.ParentShardId = aws.String(s.parent)
		}
		d.Shards = append(d.Shards, x)
	}
	if end < len(f.shards) {
		d.LastEvaluatedShardId = aws.String(f.shards[end-1].id)
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: d}, nil
}

// Iterators are "<shard>/<position>".
func (f *fakeStreams) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(*in.ShardId)
	if s == nil {
		return nil, &st.ResourceNotFoundException{Message: aws.String("no shard")}
	}
	pos := 0
	switch in.ShardIteratorType {
	case st.ShardIteratorTypeLatest:
		pos = len(s.records)
	case st.ShardIteratorTypeAfterSequenceNumber:
		for i, r := range s.records {
			if *r.Dynamodb.SequenceNumber == *in.SequenceNumber {
				pos = i + 1
			}
		}
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(s.id + "/" + strconv.Itoa(pos))}, nil
}

func (f *fakeStreams) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, p, _ := strings.Cut(*in.ShardIterator, "/")
	pos, _ := strconv.Atoi(p)
	s := f.find(id)
	end := min(len(s.records), pos+int(aws.ToInt32(in.Limit)))
	out := &dynamodbstreams.GetRecordsOutput{Records: append([]st.Record(nil), s.records[pos:end]...)}
	if !(s.closed && end == len(s.records)) {
		out.NextShardIterator = aws.String(s.id + "/" + strconv.Itoa(end))
	}
	return out, nil
}
