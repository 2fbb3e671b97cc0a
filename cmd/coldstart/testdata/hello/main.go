// Command hello is the baseline of make bench-cold: an aws-lambda-go function
// that does nothing, built with the functions' flags.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, map[string]any) (string, error) { return "hello", nil })
}
