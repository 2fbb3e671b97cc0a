// Command pre-traffic is the CodeDeploy PreTraffic hook of the API function
// (template.yaml PreTrafficHookFunction; see internal/pretraffic).
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/internal/awsenv"
	"github.com/vip-messages/api/internal/pretraffic"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h := &pretraffic.Hook{
		Target: os.Getenv("TARGET_VERSION_ARN"), Authorizer: os.Getenv("AUTHORIZER_FUNCTION"),
		SecretPrefix: os.Getenv("SECRET_PREFIX"), Stage: os.Getenv("STAGE"), Log: log,
	}
	for name, v := range map[string]string{"TARGET_VERSION_ARN": h.Target, "AUTHORIZER_FUNCTION": h.Authorizer, "SECRET_PREFIX": h.SecretPrefix, "STAGE": h.Stage} {
		if v == "" {
			log.Error(name + " is not set")
			os.Exit(1)
		}
	}
	cfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		log.Error("AWS configuration", "error", err.Error())
		os.Exit(1)
	}
	h.Lambda, h.CodeDeploy, h.Secrets = awslambda.NewFromConfig(cfg), codedeploy.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg)
	lambda.Start(h.Handle)
}
