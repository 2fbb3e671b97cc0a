package app

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/metrics"
)

type refuse struct{}

func (refuse) Do(*http.Request) (*http.Response, error) { return nil, errors.New("refused") }

// Every DynamoDB call the handler makes, failed or not, adds its time to the
// request's metrics (DynamoDBTime).
func TestTimedDynamoDBRecordsEachCall(t *testing.T) {
	ddb := timedDynamoDB{dynamodb.New(dynamodb.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String("http://dynamodb.invalid"), HTTPClient: refuse{},
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1,
	})}
	rec := &metrics.Recorder{}
	ctx := metrics.NewContext(context.Background(), rec)
	if _, err := ddb.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t")}); err == nil {
		t.Fatal("Query answered")
	}
	if _, err := ddb.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{}); err == nil {
		t.Fatal("BatchGetItem answered")
	}
	if rec.DynamoDBCalls != 2 || rec.DynamoDB <= 0 {
		t.Fatalf("recorded %d calls, %v", rec.DynamoDBCalls, rec.DynamoDB)
	}
}
