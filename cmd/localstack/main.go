// Command localstack runs the API on this machine with no AWS account and no
// Docker (docs/local-stack.md):
//
//	localstack run                     DynamoDB Local, local Secrets Manager, demo data,
//	                                   and the API at http://localhost:3000/vip-messages
//	localstack invoke -event F -bootstrap B -rie R
//	                                   the built function under aws-lambda-rie, one event
//	localstack with-dynamodb -- CMD    CMD with one DynamoDB Local for all its test
//	                                   binaries (make test)
//
// Both configure the function exactly as Lambda would: environment variables, with
// the SDK's standard endpoint overrides pointing at the local services.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = runCmd(args)
	case "invoke":
		err = invokeCmd(args, os.Stdout, os.Stderr)
	case "with-dynamodb":
		err = withDynamoDBCmd(args)
	case "apply-event":
		err = applyEventCmd(args)
	default:
		usage()
	}
	var code exitCode
	if errors.As(err, &code) {
		os.Exit(int(code)) // the command said why
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: localstack run | localstack invoke -event FILE -bootstrap FILE -rie FILE | localstack apply-event FILE")
	flag.PrintDefaults()
	os.Exit(2)
}
