package labelindex_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/table"
)

// The tests read the table's real stream on DynamoDB Local with make run's
// reader (devstack.Stream), and keep what the event source mapping's filter
// passes: records of message items.

// newStream reads the table's stream; latest starts after what it holds now.
func newStream(t *testing.T, tableName string, latest bool) *devstack.Stream {
	t.Helper()
	s, err := devstack.OpenStream(context.Background(), ddbtest.Endpoint(t), tableName, latest)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// isMessageRecord is the mapping's filter: a message item's record.
func isMessageRecord(r events.DynamoDBEventRecord) bool {
	pk, ok := r.Change.Keys[table.PartitionKeyAttr]
	return ok && pk.DataType() == events.DataTypeString && strings.HasPrefix(pk.String(), table.MessagePKPrefix)
}

// read returns the records written since the last read, in stream order;
// messagesOnly keeps those the mapping's filter passes.
func read(t *testing.T, s *devstack.Stream, messagesOnly bool) []events.DynamoDBEventRecord {
	t.Helper()
	recs, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []events.DynamoDBEventRecord
	for _, r := range recs {
		if !messagesOnly || isMessageRecord(r.DynamoDBEventRecord) {
			out = append(out, r.DynamoDBEventRecord)
		}
	}
	return out
}

// waitRecords reads the stream until it has at least n records: DynamoDB
// Local shows them at once, but a read may come before; go test's -timeout
// bounds the wait.
func waitRecords(t *testing.T, s *devstack.Stream, n int, messagesOnly bool) []events.DynamoDBEventRecord {
	t.Helper()
	var out []events.DynamoDBEventRecord
	for {
		out = append(out, read(t, s, messagesOnly)...)
		if len(out) >= n {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}
