// Command label-indexer is the Lambda function on the messages table's stream
// that keeps the label index (internal/labelindex). It only wires:
// configuration from the environment (see internal/app/labelindexer), then
// lambda.Start.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/vip-messages/api/internal/app/labelindexer"
)

func main() {
	// The runtime gives Handle a context with the invocation's deadline; the
	// indexer stops 2 s before it (Indexer.DeadlineMargin) and reports the
	// records it did not finish, instead of timing out.
	ix, err := labelindexer.Load(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "label-indexer: configuration:", err)
		os.Exit(1)
	}
	lambda.Start(ix.Handle)
}
