package app_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// recorder is an HTTP client that notes where a request would go and sends
// nothing.
type recorder struct{ hosts []string }

var errNotSent = errors.New("not sent")

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.hosts = append(r.hosts, req.URL.Scheme+"://"+req.URL.Host)
	return nil, errNotSent
}

// template.yaml declares AWS_ENDPOINT_URL_DYNAMODB and
// AWS_ENDPOINT_URL_SECRETS_MANAGER with empty values, so that `sam local`
// can override them from events/env.json (SAM only overrides declared
// variables). A deployed function therefore sees them set and empty: the
// SDK must treat that as unset and use the service's normal endpoint. The
// clients are made as the functions make them (LoadDefaultConfig, then
// NewFromConfig).
func TestEmptyEndpointOverrideKeepsAWSEndpoints(t *testing.T) {
	cases := []struct {
		name           string
		dynamo, secret string
		wantDynamo     string
		wantSecrets    string
	}{
		{"declared empty, as deployed", "", "", "https://dynamodb.eu-west-1.amazonaws.com", "https://secretsmanager.eu-west-1.amazonaws.com"},
		{"set, as sam local with events/env.json", "http://host.docker.internal:8000", "http://host.docker.internal:8010",
			"http://host.docker.internal:8000", "http://host.docker.internal:8010"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", c.dynamo)
			t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", c.secret)
			t.Setenv("AWS_ENDPOINT_URL", "")
			t.Setenv("AWS_REGION", "eu-west-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "defaultkey")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "defaultsecret")
			t.Setenv("AWS_PROFILE", "")
			t.Setenv("AWS_CA_BUNDLE", "") // the recorder has no TLS to configure
			t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
			rec := &recorder{}
			cfg, err := config.LoadDefaultConfig(context.Background(), config.WithHTTPClient(rec), config.WithRetryMaxAttempts(1))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_, err = dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("t")})
			if !errors.Is(err, errNotSent) {
				t.Fatalf("DescribeTable: %v", err)
			}
			_, err = secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
			if !errors.Is(err, errNotSent) {
				t.Fatalf("GetSecretValue: %v", err)
			}
			if len(rec.hosts) != 2 || rec.hosts[0] != c.wantDynamo || rec.hosts[1] != c.wantSecrets {
				t.Fatalf("requests went to %v, want %s and %s", rec.hosts, c.wantDynamo, c.wantSecrets)
			}
		})
	}
}
