// Package awsenv builds a function's AWS configuration from what the Lambda
// runtime puts in its environment: the region, the execution role's
// credentials, and the SDK's endpoint and retry variables. It reads no shared
// config or credentials file and links none of config.LoadDefaultConfig's
// credential chain (profiles, SSO, web identity, IMDS), whose packages
// (sts, sso, ssooidc, signin) would otherwise be initialised on every cold
// start (docs/performance.md). Programs a person runs (vipctl, make run's
// stack, cmd/seed) keep config.LoadDefaultConfig.
package awsenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/logging"
)

// Config is the AWS configuration in the environment read through getenv
// (os.Getenv in a function), as config.LoadDefaultConfig would read the same
// variables:
//   - the region from AWS_REGION, else AWS_DEFAULT_REGION;
//   - static credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//     AWS_SESSION_TOKEN (and AWS_ACCOUNT_ID), required;
//   - AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (sam local, make run),
//     an empty value as unset, all ignored under
//     AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true;
//   - AWS_MAX_ATTEMPTS and AWS_RETRY_MODE; unset, the clients keep the SDK's
//     standard retryer and HTTP client with their timeouts, as before.
func Config(getenv func(string) string) (aws.Config, error) {
	var errs []error
	cfg := aws.Config{
		Region: first(getenv, "AWS_REGION", "AWS_DEFAULT_REGION"),
		// LoadDefaultConfig's logger: the SDK's rare warnings go to stderr.
		Logger: logging.NewStandardLogger(os.Stderr),
	}

	creds := aws.Credentials{
		AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    getenv("AWS_SESSION_TOKEN"),
		AccountID:       getenv("AWS_ACCOUNT_ID"),
		Source:          "EnvConfigCredentials", // the name LoadDefaultConfig gives them
	}
	if !creds.HasKeys() {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required (the Lambda runtime sets them)"))
	}
	cfg.Credentials = aws.NewCredentialsCache(credentials.StaticCredentialsProvider{
		Value: creds, Source: []aws.CredentialSource{aws.CredentialSourceEnvVars}})

	if ignore, _ := strconv.ParseBool(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")); !ignore {
		if v := getenv("AWS_ENDPOINT_URL"); v != "" {
			cfg.BaseEndpoint = aws.String(v)
		}
		// Each client asks its config sources for AWS_ENDPOINT_URL_<SERVICE>
		// when it is made (the generated resolveBaseEndpoint).
		cfg.ConfigSources = []any{serviceEndpoints(getenv)}
	}

	if v := getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("AWS_MAX_ATTEMPTS=%q: want a number of attempts", v))
		}
		cfg.RetryMaxAttempts = n
	}
	if v := getenv("AWS_RETRY_MODE"); v != "" {
		mode, err := aws.ParseRetryMode(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("AWS_RETRY_MODE=%q: %w", v, err))
		}
		cfg.RetryMode = mode
	}
	return cfg, errors.Join(errs...)
}

func first(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// serviceEndpoints answers a client's GetServiceBaseEndpoint with
// AWS_ENDPOINT_URL_<SDK ID in capitals, spaces as underscores>, as the
// config package's EnvConfig does: AWS_ENDPOINT_URL_DYNAMODB,
// AWS_ENDPOINT_URL_SECRETS_MANAGER.
type serviceEndpoints func(string) string

func (getenv serviceEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v := getenv("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return v, v != "", nil
}
