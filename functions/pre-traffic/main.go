// Command pre-traffic is the CodeDeploy PreTraffic hook of the API function
// (template.yaml PreTrafficHookFunction; see internal/pretraffic).
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/vip-messages/api/internal/awsenv"
	"github.com/vip-messages/api/internal/pretraffic"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	target := os.Getenv("TARGET_VERSION_ARN")
	if target == "" {
		log.Error("TARGET_VERSION_ARN is not set")
		os.Exit(1)
	}
	cfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		log.Error("AWS configuration", "error", err.Error())
		os.Exit(1)
	}
	h := &pretraffic.Hook{
		Lambda: awslambda.NewFromConfig(cfg), CodeDeploy: codedeploy.NewFromConfig(cfg),
		Target: target, Log: log,
	}
	lambda.Start(h.Handle)
}
