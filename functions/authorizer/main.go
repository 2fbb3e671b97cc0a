// Command authorizer is the API's REQUEST Lambda authorizer (see
// internal/authorizer): API Gateway runs it before the API function and before
// any usage plan counts the request. It only wires: configuration from the
// environment (see internal/app), then lambda.Start.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/vip-messages/api/internal/app/authorizer"
)

func main() {
	z, err := authorizer.Load(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authorizer: configuration:", err)
		os.Exit(1)
	}
	lambda.Start(z.Handle)
}
