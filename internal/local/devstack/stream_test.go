package devstack_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Main(m)) }

// The poller on DynamoDB Local's real stream: what the table held before it
// started (TRIM_HORIZON), then every kind of change of message items in
// order and nothing of other items; a batch item failure retried from the
// failed record on; a record that keeps failing discarded after the
// mapping's retries with an error line; a clean stop.
func TestPollerOnDynamoDBLocal(t *testing.T) {
	ddb, tableName := ddbtest.NewStreamTable(t)
	ctx := context.Background()
	key := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}
	}
	put := func(pk, sk string) {
		t.Helper()
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: key(pk, sk)}); err != nil {
			t.Fatal(err)
		}
	}
	put("MSG#w#c", "0") // before the poller starts

	var mu sync.Mutex
	var got []string // every delivery of a record
	attempts := map[string]int{}
	handler := func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		var resp events.DynamoDBEventResponse
		for _, r := range ev.Records {
			sk := r.Change.Keys["sk"].String()
			got = append(got, r.EventName+" "+r.Change.Keys["pk"].String()+" "+sk)
			attempts[sk]++
			// "flaky" fails once, "poison" always: the rest of their batch is retried with them.
			if sk == "flaky" && attempts[sk] == 1 || sk == "poison" {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
				break
			}
		}
		return resp, nil
	}
	stream, err := devstack.OpenStream(ctx, ddbtest.Endpoint(t), tableName, false)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := devstack.NewPoller(stream, handler, log)
	p.MaxRecordAge = 2 * time.Second // the stage's is 8 h
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	<-p.CaughtUp() // go test's -timeout bounds a poller that never catches up
	mu.Lock()
	if first := slices.Clone(got); !slices.Equal(first, []string{"INSERT MSG#w#c 0"}) {
		t.Fatalf("caught up having delivered %q", first)
	}
	mu.Unlock()

	put("MSG#w#c", "1")
	put("WS#w", "WS")
	put("LBL#w#c#x", "1")
	if _, err := ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tableName), Key: key("MSG#w#c", "1"),
		UpdateExpression: aws.String("SET x = :x"), ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberS{Value: "y"}}}); err != nil {
		t.Fatal(err)
	}
	put("MSG#w#c", "flaky")
	put("MSG#w#c", "2")
	if _, err := ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tableName), Key: key("MSG#w#c", "1")}); err != nil {
		t.Fatal(err)
	}
	put("MSG#w#c", "poison")
	put("MSG#w#c", "3")
	// Each record in stream order (a retried one again, in place).
	want := []string{"INSERT MSG#w#c 0", "INSERT MSG#w#c 1", "MODIFY MSG#w#c 1", "INSERT MSG#w#c flaky",
		"INSERT MSG#w#c 2", "REMOVE MSG#w#c 1", "INSERT MSG#w#c poison", "INSERT MSG#w#c 4"}
	for {
		logMu.Lock()
		discarded := strings.Contains(logs.String(), "batch discarded, its oldest record past the maximum record age")
		logMu.Unlock()
		if discarded {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The shard goes on after a discarded batch.
	put("MSG#w#c", "4")
	for {
		mu.Lock()
		after := slices.Contains(got, "INSERT MSG#w#c 4")
		mu.Unlock()
		if after {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var firsts []string
	for _, g := range got {
		// 3 is discarded with poison when it shares its batch, and is
		// delivered when it does not: either is the mapping's behaviour.
		if !slices.Contains(firsts, g) && g != "INSERT MSG#w#c 3" {
			firsts = append(firsts, g)
		}
	}
	if !slices.Equal(firsts, want) {
		t.Fatalf("delivered\n%q\nwant, first deliveries\n%q", got, want)
	}
	// A failed record is retried until it succeeds, or until its batch is
	// MaxRecordAge old (the mapping's MaximumRetryAttempts -1 and
	// MaximumRecordAgeInSeconds), backing off; a record done is not delivered
	// again.
	if attempts["0"] != 1 || attempts["flaky"] != 2 || attempts["poison"] < 2 {
		t.Fatalf("attempts %v, want 0 once, flaky twice, poison retried", attempts)
	}
	if !strings.Contains(logs.String(), `"retryIn":"400ms"`) {
		t.Errorf("no backoff in the warnings:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"lagMaxMs"`) {
		t.Errorf("no lag in the debug log:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
