// Command pre-traffic is the CodeDeploy PreTraffic hook of the API function
// (template.yaml PreTrafficHookFunction; see internal/pretraffic). It only
// wires: configuration from the environment, then lambda.Start.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/vip-messages/api/internal/pretraffic"
)

func main() {
	h, err := pretraffic.Load(os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pre-traffic: configuration:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
