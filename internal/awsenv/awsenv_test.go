package awsenv_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/internal/awsenv"
	"github.com/vip-messages/api/internal/local/repo"
)

// recorder is an HTTP client that notes where a request would go and how it
// is signed, and sends nothing.
type recorder struct{ sent []string }

var errNotSent = errors.New("not sent")

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	auth := req.Header.Get("Authorization")
	// "AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...": the key, region and service.
	cred, _, _ := strings.Cut(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 Credential="), ",")
	key, rest, _ := strings.Cut(cred, "/")
	_, scope, _ := strings.Cut(rest, "/")
	r.sent = append(r.sent, req.URL.Scheme+"://"+req.URL.Host+" "+key+" "+scope+" token="+req.Header.Get("X-Amz-Security-Token"))
	return nil, errNotSent
}

// requests makes one DynamoDB and one Secrets Manager call with clients made
// from cfg as the functions make them (NewFromConfig), and returns what the
// recorder saw, with each client's retry settings.
func requests(t *testing.T, cfg aws.Config) []string {
	t.Helper()
	rec := &recorder{}
	ctx := context.Background()
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.HTTPClient = rec })
	if _, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("t")}); !errors.Is(err, errNotSent) {
		t.Fatalf("DescribeTable: %v", err)
	}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.HTTPClient = rec })
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); !errors.Is(err, errNotSent) {
		t.Fatalf("GetSecretValue: %v", err)
	}
	// Each call is tried as many times as the retryer allows.
	retries := ddb.Options().Retryer
	return append(rec.sent, "attempts", strconv.Itoa(retries.MaxAttempts()), "mode", string(ddb.Options().RetryMode))
}

// noSharedFiles points the SDK's shared config and credentials files at
// files that do not exist, so that LoadDefaultConfig, the reference, reads
// the environment only.
func noSharedFiles(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
}

// The variables a function sees, as the SDK's own LoadDefaultConfig reads
// them: the same endpoints, signing key, region and session token, the same
// retries. template.yaml declares AWS_ENDPOINT_URL_DYNAMODB and
// AWS_ENDPOINT_URL_SECRETS_MANAGER empty, so that sam local can set them
// (SAM only overrides declared variables): a deployed function sees them set
// and empty, which must mean the service's own endpoint.
func TestMatchesLoadDefaultConfig(t *testing.T) {
	base := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "", "AWS_ACCESS_KEY_ID": "AKIDLAMBDA", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN": "session", "AWS_ACCOUNT_ID": "", "AWS_PROFILE": "", "AWS_CA_BUNDLE": "",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_DYNAMODB": "", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "", "AWS_MAX_ATTEMPTS": "", "AWS_RETRY_MODE": "",
	}
	cases := []struct {
		name string
		env  map[string]string
		want string // the DynamoDB endpoint, as a check that the case is what it says
	}{
		{"deployed: endpoints declared empty", nil, "https://dynamodb.eu-west-1.amazonaws.com"},
		{"sam local: events/env.json's endpoints", map[string]string{
			"AWS_ENDPOINT_URL_DYNAMODB": "http://host.docker.internal:8000", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://host.docker.internal:8010"},
			"http://host.docker.internal:8000"},
		{"one endpoint for every service", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, "http://127.0.0.1:4566"},
		{"a service's endpoint over the global one", map[string]string{
			"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}, "http://127.0.0.1:8000"},
		{"endpoints ignored", map[string]string{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
			"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}, "https://dynamodb.eu-west-1.amazonaws.com"},
		{"region from AWS_DEFAULT_REGION", map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-1"}, "https://dynamodb.ap-south-1.amazonaws.com"},
		{"retries from the environment", map[string]string{"AWS_MAX_ATTEMPTS": "5", "AWS_RETRY_MODE": "adaptive"}, "https://dynamodb.eu-west-1.amazonaws.com"},
		{"no session token", map[string]string{"AWS_SESSION_TOKEN": ""}, "https://dynamodb.eu-west-1.amazonaws.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			noSharedFiles(t)
			for k, v := range base {
				t.Setenv(k, v)
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			ref, err := config.LoadDefaultConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got, err := awsenv.Config(os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			want := requests(t, ref)
			have := requests(t, got)
			if !strings.HasPrefix(want[0], c.want+" ") {
				t.Fatalf("LoadDefaultConfig sent DynamoDB's request to %s, the case expects %s", want[0], c.want)
			}
			if strings.Join(have, "\n") != strings.Join(want, "\n") {
				t.Fatalf("awsenv:\n%s\nLoadDefaultConfig:\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// The Lambda path never reads a shared config or credentials file: with a
// HOME whose ~/.aws files are broken, and the variables naming broken files
// and a profile that is nowhere, LoadDefaultConfig fails, and awsenv gives the
// environment's configuration, its endpoint overrides working.
func TestIgnoresSharedFiles(t *testing.T) {
	home := t.TempDir()
	broken := "[profile broken\nregion = nowhere-1\ncredential_process = /bin/false\n"
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(home, ".aws", name), []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent = append(sent, r.Header.Get("X-Amz-Target")+" "+strings.SplitN(r.Header.Get("Authorization"), ",", 2)[0])
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	env := map[string]string{
		"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, ".aws", "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, ".aws", "credentials"),
		"AWS_PROFILE": "broken", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_DYNAMODB": srv.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL,
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	if _, err := config.LoadDefaultConfig(context.Background()); err == nil {
		t.Fatal("LoadDefaultConfig accepted the broken shared files: this test would prove nothing")
	}
	cfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("t")}); err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	if _, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	want := []string{
		"DynamoDB_20120810.DescribeTable AWS4-HMAC-SHA256 Credential=AKIDENV/",
		"secretsmanager.GetSecretValue AWS4-HMAC-SHA256 Credential=AKIDENV/",
	}
	if len(sent) != len(want) {
		t.Fatalf("the endpoint got %q, want %q", sent, want)
	}
	for i := range want {
		if !strings.HasPrefix(sent[i], want[i]) || !strings.HasSuffix(sent[i], "/us-east-1/"+[]string{"dynamodb", "secretsmanager"}[i]+"/aws4_request") {
			t.Errorf("request %d: %q, want %q... signed for us-east-1", i, sent[i], want[i])
		}
	}
}

// Every problem at once, and nothing a function could start without: the
// runtime always sets the credentials.
func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"no credentials", map[string]string{"AWS_REGION": "us-east-1"}, []string{"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required"}},
		{"no secret key", map[string]string{"AWS_ACCESS_KEY_ID": "k"}, []string{"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required"}},
		{"bad retry settings", map[string]string{"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_MAX_ATTEMPTS": "three", "AWS_RETRY_MODE": "eager"},
			[]string{`AWS_MAX_ATTEMPTS="three"`, `AWS_RETRY_MODE="eager"`}},
		{"complete", map[string]string{"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := awsenv.Config(func(k string) string { return c.env[k] })
			if (err != nil) != (len(c.want) > 0) {
				t.Fatalf("error %v, want one with %q", err, c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// No function links config.LoadDefaultConfig's credential chain, nor a
// client of a service it does not call: their packages are initialised on
// every cold start (docs/performance.md).
func TestFunctionsLinkOnlyWhatTheyCall(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	fns, err := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	if err != nil || len(fns) == 0 {
		t.Fatalf("no functions under %s/functions: %v", root, err)
	}
	// The AWS services whose packages each function links: those it calls,
	// and for the label indexer DynamoDB Streams' types and schemas, which
	// attributevalue imports for its stream conversions.
	services := map[string][]string{
		"authorizer":    {"secretsmanager"},
		"label-indexer": {"dynamodb", "dynamodbstreams"},
		"pre-traffic":   {"codedeploy", "lambda", "secretsmanager"},
		"vip-messages":  {"dynamodb"},
	}
	forbidden := []string{"config", "service/sts", "service/sso", "service/ssooidc", "service/signin", "credentials/stscreds", "feature/ec2/imds"}
	const sdk = "github.com/aws/aws-sdk-go-v2/"
	for _, main := range fns {
		name := filepath.Base(filepath.Dir(main))
		pkg := "./functions/" + name
		cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, f := range forbidden {
			if slices.Contains(deps, sdk+f) {
				t.Errorf("%s links %s%s", pkg, sdk, f)
			}
		}
		var linked []string
		for _, d := range deps {
			if rest, ok := strings.CutPrefix(d, sdk+"service/"); ok {
				if svc, _, _ := strings.Cut(rest, "/"); svc != "internal" && !slices.Contains(linked, svc) {
					linked = append(linked, svc)
				}
			}
		}
		slices.Sort(linked)
		want, known := services[name]
		if !known {
			t.Errorf("%s is not in this test's list of the services each function calls", pkg)
		} else if !slices.Equal(linked, want) {
			t.Errorf("%s links the clients of %v, want %v", pkg, linked, want)
		}
	}
}
