package labelindex_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"gopkg.in/yaml.v3"

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
)

// streamReader reads a table's real stream on DynamoDB Local, as the Lambda
// event source mapping would, and hands back Lambda events.
type streamReader struct {
	client *dynamodbstreams.Client
	arn    string
	// last is the last sequence number read per shard.
	last map[string]string
}

func newStreamReader(t *testing.T, ddb *dynamodb.Client, table string) *streamReader {
	t.Helper()
	out, err := ddb.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.LatestStreamArn == nil {
		t.Fatalf("table %s has no stream: template.yaml must enable NEW_AND_OLD_IMAGES", table)
	}
	client := dynamodbstreams.New(dynamodbstreams.Options{
		Region:       ddblocal.Region,
		BaseEndpoint: aws.String(ddbtest.Endpoint(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	return &streamReader{client: client, arn: *out.Table.LatestStreamArn, last: map[string]string{}}
}

// read returns every record written since the last read, in shard order.
func (r *streamReader) read(t *testing.T) []events.DynamoDBEventRecord {
	t.Helper()
	ctx := context.Background()
	desc, err := r.client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(r.arn)})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.DynamoDBEventRecord
	for _, sh := range desc.StreamDescription.Shards {
		id := aws.ToString(sh.ShardId)
		in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(r.arn), ShardId: sh.ShardId,
			ShardIteratorType: st.ShardIteratorTypeTrimHorizon}
		if seq, ok := r.last[id]; ok {
			in.ShardIteratorType, in.SequenceNumber = st.ShardIteratorTypeAfterSequenceNumber, aws.String(seq)
		}
		it, err := r.client.GetShardIterator(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			recs, err := r.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range recs.Records {
				out = append(out, toEvent(t, r.arn, rec))
				r.last[id] = aws.ToString(rec.Dynamodb.SequenceNumber)
			}
			if len(recs.Records) == 0 {
				break // an open shard always has a next iterator: stop at its end
			}
			iter = recs.NextShardIterator
		}
	}
	return out
}

// toEvent converts a Streams API record to the record Lambda delivers.
func toEvent(t *testing.T, arn string, r st.Record) events.DynamoDBEventRecord {
	t.Helper()
	d := r.Dynamodb
	ev := events.DynamoDBEventRecord{
		AWSRegion:      aws.ToString(r.AwsRegion),
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    aws.ToString(r.EventSource),
		EventVersion:   aws.ToString(r.EventVersion),
		EventSourceArn: arn,
		Change: events.DynamoDBStreamRecord{
			Keys:           eventMap(t, d.Keys),
			NewImage:       eventMap(t, d.NewImage),
			OldImage:       eventMap(t, d.OldImage),
			SequenceNumber: aws.ToString(d.SequenceNumber),
			SizeBytes:      aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType),
		},
	}
	if d.ApproximateCreationDateTime != nil {
		ev.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
	}
	return ev
}

func eventMap(t *testing.T, m map[string]st.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = eventValue(t, v)
	}
	return out
}

func eventValue(t *testing.T, v st.AttributeValue) events.DynamoDBAttributeValue {
	switch x := v.(type) {
	case *st.AttributeValueMemberS:
		return events.NewStringAttribute(x.Value)
	case *st.AttributeValueMemberN:
		return events.NewNumberAttribute(x.Value)
	case *st.AttributeValueMemberB:
		return events.NewBinaryAttribute(x.Value)
	case *st.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(x.Value)
	case *st.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *st.AttributeValueMemberSS:
		return events.NewStringSetAttribute(x.Value)
	case *st.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(x.Value)
	case *st.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(x.Value)
	case *st.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(x.Value))
		for i, e := range x.Value {
			l[i] = eventValue(t, e)
		}
		return events.NewListAttribute(l)
	case *st.AttributeValueMemberM:
		return events.NewMapAttribute(eventMap(t, x.Value))
	}
	t.Fatalf("unsupported stream attribute %T", v)
	return events.DynamoDBAttributeValue{}
}

// streamFilter is the event source mapping's FilterCriteria from template.yaml,
// applied here as Lambda applies it: records that do not match never reach the
// function.
type streamFilter struct{ prefixes map[string][]string } // key attribute -> allowed S prefixes

func loadStreamFilter(t *testing.T) streamFilter {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				FilterCriteria struct {
					Filters []struct {
						Pattern string `yaml:"Pattern"`
					} `yaml:"Filters"`
				} `yaml:"FilterCriteria"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	// The template's intrinsic tags (!Ref...) decode as plain scalars here.
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	f := streamFilter{prefixes: map[string][]string{}}
	n := 0
	for _, r := range doc.Resources {
		if r.Type != "AWS::Lambda::EventSourceMapping" {
			continue
		}
		for _, flt := range r.Properties.FilterCriteria.Filters {
			n++
			// Only the shape this project uses: {"dynamodb":{"Keys":{<attr>:{"S":[{"prefix":...}]}}}}.
			var p struct {
				DynamoDB struct {
					Keys map[string]struct {
						S []struct {
							Prefix string `json:"prefix"`
						} `json:"S"`
					} `json:"Keys"`
				} `json:"dynamodb"`
			}
			dec := json.NewDecoder(strings.NewReader(flt.Pattern))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				t.Fatalf("filter pattern %s: %v", flt.Pattern, err)
			}
			for attr, m := range p.DynamoDB.Keys {
				for _, s := range m.S {
					f.prefixes[attr] = append(f.prefixes[attr], s.Prefix)
				}
			}
		}
	}
	if n != 1 || len(f.prefixes) == 0 {
		t.Fatalf("want one event source mapping filter on a key prefix in template.yaml, found %d: %v", n, f.prefixes)
	}
	return f
}

func (f streamFilter) match(r events.DynamoDBEventRecord) bool {
	for attr, prefixes := range f.prefixes {
		v, ok := r.Change.Keys[attr]
		if !ok || v.DataType() != events.DataTypeString {
			return false
		}
		hit := false
		for _, p := range prefixes {
			hit = hit || strings.HasPrefix(v.String(), p)
		}
		if !hit {
			return false
		}
	}
	return true
}

func (f streamFilter) apply(recs []events.DynamoDBEventRecord) []events.DynamoDBEventRecord {
	var out []events.DynamoDBEventRecord
	for _, r := range recs {
		if f.match(r) {
			out = append(out, r)
		}
	}
	return out
}

// waitRecords reads the stream until it has at least n records (DynamoDB Local
// makes them visible at once, but stay tolerant).
func (r *streamReader) waitRecords(t *testing.T, n int) []events.DynamoDBEventRecord {
	t.Helper()
	var out []events.DynamoDBEventRecord
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = append(out, r.read(t)...)
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) < n {
				t.Fatalf("stream has %d records, want %d", len(out), n)
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}
