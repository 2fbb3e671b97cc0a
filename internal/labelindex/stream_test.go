package labelindex_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/streampoller"
	"github.com/vip-messages/api/internal/local/tabledef"
)

// The tests read the table's real stream on DynamoDB Local through the local
// event source mapping's reader (internal/local/streampoller), with the
// template's mapping: its filter, its starting position, shard lineage.

func templateMapping(t *testing.T) streampoller.Mapping {
	t.Helper()
	m, err := streampoller.FromTemplate(tabledef.TemplatePath())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newStream reads the table's stream from position through filter.
func newStream(t *testing.T, ddb *dynamodb.Client, table, position string, filter streampoller.Filter) *streampoller.Stream {
	t.Helper()
	arn, err := streampoller.StreamARN(context.Background(), ddb, table)
	if err != nil {
		t.Fatal(err)
	}
	return streampoller.NewStream(ddblocal.NewStreamsClient(ddbtest.Endpoint(t)), arn, position, filter)
}

// read returns every record written since the last read, in stream order.
func read(t *testing.T, s *streampoller.Stream) []events.DynamoDBEventRecord {
	t.Helper()
	recs, err := s.ReadAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// waitRecords reads the stream until it has at least n records (DynamoDB Local
// makes them visible at once, but stay tolerant).
func waitRecords(t *testing.T, s *streampoller.Stream, n int) []events.DynamoDBEventRecord {
	t.Helper()
	var out []events.DynamoDBEventRecord
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = append(out, read(t, s)...)
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) < n {
				t.Fatalf("stream has %d records, want %d", len(out), n)
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}
