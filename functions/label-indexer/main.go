// Command label-indexer is the Lambda function on the messages table's stream
// that keeps the label index (internal/labelindex). It only wires: TABLE_NAME,
// LOG_LEVEL and STAGE (the metrics' Stage dimension) from the environment, the
// DynamoDB client, lambda.Start.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/labelindex"
)

func main() {
	table := strings.TrimSpace(os.Getenv("TABLE_NAME"))
	var level slog.Level
	if v := strings.TrimSpace(os.Getenv("LOG_LEVEL")); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			fail(fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	if table == "" {
		fail(fmt.Errorf("TABLE_NAME is required"))
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail(fmt.Errorf("aws config: %w", err))
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
	// The runtime gives Handle a context with the invocation's deadline; the
	// indexer stops 2 s before it (Indexer.DeadlineMargin) and reports the
	// records it did not finish, instead of timing out.
	ix := labelindex.NewIndexer(dynamodb.NewFromConfig(awsCfg), table, log)
	ix.Stage = strings.TrimSpace(os.Getenv("STAGE"))
	lambda.Start(ix.Handle)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "label-indexer: configuration:", err)
	os.Exit(1)
}
