// Command vip-messages is the Lambda function of GET /vip-messages. It only wires:
// configuration from the environment (see internal/app), then lambda.Start.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/vip-messages/api/internal/app"
)

func main() {
	h, err := app.Load(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vip-messages: configuration:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
