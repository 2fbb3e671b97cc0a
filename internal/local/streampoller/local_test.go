package streampoller_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/streampoller"
	"github.com/vip-messages/api/internal/local/tabledef"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Main(m)) }

// The poller on DynamoDB Local's real stream: the template's mapping, every
// kind of change of message items in order, nothing of other items, and a
// clean stop.
func TestRunOnDynamoDBLocal(t *testing.T) {
	ddb, table := ddbtest.NewTable(t)
	ctx := context.Background()
	m, err := streampoller.FromTemplate(tabledef.TemplatePath())
	if err != nil {
		t.Fatal(err)
	}
	arn, err := streampoller.StreamARN(ctx, ddb, table)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	p := streampoller.New(ddblocal.NewStreamsClient(ddbtest.Endpoint(t)), arn, m,
		func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("invoked without the function's deadline")
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range ev.Records {
				got = append(got, r.EventName+" "+r.Change.Keys["pk"].String()+" "+r.Change.Keys["sk"].String())
			}
			return events.DynamoDBEventResponse{}, nil
		}, nil)
	key := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}
	}
	put := func(pk, sk string) {
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: key(pk, sk)}); err != nil {
			t.Fatal(err)
		}
	}
	put("MSG#w#c", "0") // before the poller starts: TRIM_HORIZON

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case <-p.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("the poller did not catch up with a one-record stream")
	}
	mu.Lock()
	first := slices.Clone(got)
	mu.Unlock()
	if !slices.Equal(first, []string{"INSERT MSG#w#c 0"}) {
		t.Fatalf("caught up having delivered %q", first)
	}

	put("MSG#w#c", "1")
	put("WS#w", "WS")
	put("LBL#w#c#x", "1")
	if _, err := ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key("MSG#w#c", "1"),
		UpdateExpression: aws.String("SET x = :x"), ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberS{Value: "y"}}}); err != nil {
		t.Fatal(err)
	}
	put("MSG#w#c", "2")
	if _, err := ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key("MSG#w#c", "1")}); err != nil {
		t.Fatal(err)
	}
	want := []string{"INSERT MSG#w#c 0", "INSERT MSG#w#c 1", "MODIFY MSG#w#c 1", "INSERT MSG#w#c 2", "REMOVE MSG#w#c 1"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after its context ended")
	}
	done <- nil // for the cleanup
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}
