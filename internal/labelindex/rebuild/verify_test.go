package rebuild_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/vip-messages/api/internal/labelindex/rebuild"
	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/table"
)

// Verify reports every difference between the index and the messages, of
// each kind, and none once a rebuild repaired them.
func TestVerifyReportsEveryDifference(t *testing.T) {
	w := preIndex(t, 40)
	rb := rebuild.New(w.ddb, w.table)
	if _, err := rb.Channel(context.Background(), ws, ch, "", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := rb.Verify(context.Background(), ws, ch, t0, t1, nil, 0); err != nil || len(v.Differences) != 0 || v.Messages != 40 {
		t.Fatalf("after a rebuild: %+v, %v", v, err)
	}
	ids := slices.Sorted(maps.Keys(w.msgs))
	var labelled []table.Message
	for _, id := range ids {
		if len(w.msgs[id].Labels) > 0 {
			labelled = append(labelled, w.msgs[id])
		}
	}
	missing, stale, orphan := labelled[0], labelled[1], labelled[2]
	ctx := context.Background()
	// missing: an index item deleted behind the indexer's back.
	if _, err := w.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(w.table),
		Key: table.Key(table.LabelPK(ws, ch, missing.Labels[0]), table.MessageSK(missing.Timestamp, missing.MessageID))}); err != nil {
		t.Fatal(err)
	}
	// stale: an index item with old text.
	old := stale
	old.Text = "old text"
	item, err := attributevalue.MarshalMap(table.MessageItem{PK: table.LabelPK(ws, ch, stale.Labels[0]), SK: table.MessageSK(stale.Timestamp, stale.MessageID), Message: old.WithLabelLists()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: item}); err != nil {
		t.Fatal(err)
	}
	// orphan: an item under a label the message does not carry, which no
	// message of the window carries either.
	ghost := orphan
	ghost.Labels, ghost.CustomLabelIDs = []string{"gone-label"}, nil
	w.putIndex(t, ch, ghost)

	v, err := rb.Verify(ctx, ws, ch, t0, t1, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		rebuild.Missing + " " + missing.Labels[0] + " " + missing.MessageID,
		rebuild.Stale + " " + stale.Labels[0] + " " + stale.MessageID,
		// The item deleted by hand is still counted.
		rebuild.Count + " " + missing.Labels[0] + " ",
	}
	if got := summary(v.Differences); !slices.Equal(got, sorted(want)) {
		t.Fatalf("differences %v, want %v (the orphan's label is not walked unless named)", got, sorted(want))
	}
	if !strings.Contains(fmt.Sprint(v.Differences), "text") {
		t.Fatalf("the stale item's difference does not name the text: %v", v.Differences)
	}
	labels, err := rb.ScanLabels(ctx, ws, ch)
	if err != nil || !slices.Contains(labels, "gone-label") {
		t.Fatalf("ScanLabels %v, %v", labels, err)
	}
	v, err = rb.Verify(ctx, ws, ch, t0, t1, labels, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The orphan put by hand is not counted.
	want = append(want, rebuild.Orphan+" gone-label "+orphan.MessageID, rebuild.Count+" gone-label ")
	if got := summary(v.Differences); !slices.Equal(got, sorted(want)) {
		t.Fatalf("differences %v, want %v", got, sorted(want))
	}
	// A window that leaves the messages out leaves their differences out.
	if v, err := rb.Verify(ctx, ws, ch, t1, t1.AddDate(0, 0, 1), labels, 0); err != nil || len(v.Differences) != 0 || v.Messages != 0 {
		t.Fatalf("empty window: %+v, %v", v, err)
	}

	// The rebuild repairs the index, and its recount the counters.
	p, err := rb.Channel(ctx, ws, ch, "", nil)
	if err != nil || p.Recounted == 0 {
		t.Fatalf("rebuild: %+v, %v", p, err)
	}
	if v, err := rb.Verify(ctx, ws, ch, t0, t1, labels, 0); err != nil || len(v.Differences) != 0 || v.Total != 40 {
		t.Fatalf("after a rebuild: %+v, %v", v, err)
	}
	// A counter off by hand: verify reports it, and the total's too.
	day, _ := table.CounterSK(table.MessageSK(stale.Timestamp, stale.MessageID))
	if _, err := w.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(w.table), Key: table.Key(table.CounterPK(ws, ch), day),
		UpdateExpression:          aws.String("ADD #n :one, #t :one"),
		ExpressionAttributeNames:  map[string]string{"#n": table.CountAttr(stale.Labels[0]), "#t": table.TotalAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
	}); err != nil {
		t.Fatal(err)
	}
	v, err = rb.Verify(ctx, ws, ch, t0, t1, labels, 0)
	if got, want := summary(v.Differences), sorted([]string{rebuild.Count + "  ", rebuild.Count + " " + stale.Labels[0] + " "}); err != nil || !slices.Equal(got, want) {
		t.Fatalf("a counter off by one: %v, %v; want %v", got, err, want)
	}
}

// summary is "problem label messageId" of each difference, sorted.
func summary(ds []rebuild.Difference) []string {
	var out []string
	for _, d := range ds {
		_, id, _ := strings.Cut(d.SK, "#")
		out = append(out, d.Problem+" "+d.Label+" "+id)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// A batch the indexer gave up on (its REMOVE never applied; the message was
// written again with one of its labels meanwhile, and that was applied):
// replaying its DLQ record re-reads exactly those records and repairs them.
func TestReplayDLQRepairsTheBatch(t *testing.T) {
	ddb, tbl := ddbtest.NewStreamTable(t)
	w := &world{ddb: ddb, table: tbl, msgs: map[string]table.Message{}}
	ctx := context.Background()
	m := table.Message{MessageID: "m1", Timestamp: t0.UnixMilli(), Kind: "text", Text: "hi", Labels: []string{"x", "y"}}
	n := table.Message{MessageID: "m2", Timestamp: t0.UnixMilli() + 1, Kind: "text", Text: "other", Labels: []string{"z"}}
	for _, x := range []table.Message{m, n} {
		w.put(t, ch, x)
		w.putIndex(t, ch, x)
		w.msgs[x.MessageID] = x
	}
	w.remove(t, m.MessageID) // given up on
	n2 := n
	n2.Labels = nil
	w.put(t, ch, n2) // given up on too, in the same batch
	w.msgs[n.MessageID] = n2
	again := m
	again.Labels = []string{"x"}
	w.put(t, ch, again) // applied
	w.putIndex(t, ch, again)
	w.msgs[m.MessageID] = again

	streams := ddblocal.NewStreamsClient(ddbtest.Endpoint(t))
	arn, shard, seqs := streamRecords(t, ddb, streams, tbl)
	if len(seqs) != 5 {
		t.Fatalf("%d stream records, want 5", len(seqs))
	}
	body := fmt.Sprintf(`{"requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:f","condition":"RetryAttemptsExhausted","approximateInvokeCount":1},
		"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"2026-06-01T00:00:00.000Z",
		"DDBStreamBatchInfo":{"shardId":%q,"startSequenceNumber":%q,"endSequenceNumber":%q,"approximateArrivalOfFirstRecord":"2026-06-01T00:00:00Z","approximateArrivalOfLastRecord":"2026-06-01T00:00:00Z","batchSize":2,"streamArn":%q}}`,
		shard, seqs[2], seqs[3], arn)
	info, err := rebuild.ParseFailure(body)
	if err != nil {
		t.Fatal(err)
	}
	rb := rebuild.New(ddb, tbl)
	res, err := rb.Replay(ctx, streams, info)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || res.Records != 2 || res.Messages != 2 || res.Changed < 2 || !slices.Equal(res.Channels, []string{ws + "/" + ch}) {
		t.Fatalf("replay: %+v", res)
	}
	w.check(t)

	// Records the stream no longer holds: nothing to repair from, and it says so.
	info.ShardID = "shardId-00000000000000000000-00000000"
	if res, err := rb.Replay(ctx, streams, info); err != nil || res.Complete || res.Records != 0 {
		t.Fatalf("replay of a shard the stream does not hold: %+v, %v", res, err)
	}

	for _, bad := range []string{`{}`, `not json`, `{"DDBStreamBatchInfo":{"shardId":"s","startSequenceNumber":"9","endSequenceNumber":"10"}}`,
		`{"DDBStreamBatchInfo":{"shardId":"s","startSequenceNumber":"11","endSequenceNumber":"10","streamArn":"a"}}`} {
		if _, err := rebuild.ParseFailure(bad); err == nil {
			t.Errorf("ParseFailure(%s) accepted it", bad)
		}
	}
}

// streamRecords lists the sequence numbers of the message records of the
// table's stream (one shard on DynamoDB Local).
func streamRecords(t *testing.T, ddb *dynamodb.Client, streams *dynamodbstreams.Client, tbl string) (arn, shard string, seqs []string) {
	t.Helper()
	ctx := context.Background()
	d, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tbl)})
	if err != nil {
		t.Fatal(err)
	}
	arn = aws.ToString(d.Table.LatestStreamArn)
	s, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn)})
	if err != nil || len(s.StreamDescription.Shards) != 1 {
		t.Fatalf("stream: %v, %v", s, err)
	}
	shard = aws.ToString(s.StreamDescription.Shards[0].ShardId)
	it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard), ShardIteratorType: "TRIM_HORIZON"})
	if err != nil {
		t.Fatal(err)
	}
	iter := it.ShardIterator
	for iter != nil {
		out, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			if pk, _ := r.Dynamodb.Keys[table.PartitionKeyAttr].(*st.AttributeValueMemberS); pk != nil && strings.HasPrefix(pk.Value, table.MessagePKPrefix) {
				seqs = append(seqs, aws.ToString(r.Dynamodb.SequenceNumber))
			}
		}
		if len(out.Records) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	return arn, shard, seqs
}
