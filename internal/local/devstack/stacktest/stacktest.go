// Package stacktest gives a test binary the whole local stack (devstack: DynamoDB
// Local, the local Secrets Manager, the demo data and key) with the real
// authorizer and handler behind the local gateway, in the spirit of ddbtest: one stack per test binary,
// on the binary's DynamoDB Local, started on first use and stopped by Main.
//
//	func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }
//
//	stack, url := stacktest.API(t) // url + "/vip-messages" is the API
//
// Options given to Main shape the stack of that binary; tests that need another
// client, authorizer or handler (a failing Secrets Manager, a log buffer) build it
// with authorizerapp.New (internal/app/authorizer) or app.NewWithClient from the stack.
package stacktest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/app"
	authorizerapp "github.com/vip-messages/api/internal/app/authorizer"
	"github.com/vip-messages/api/internal/auth/keystore"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/gateway"
)

// Option shapes the stack of a test binary; pass it to Main.
type Option func(*settings)

type settings struct {
	cacheTTL   time.Duration
	processEnv bool
}

// CacheTTL sets the authorizer's key cache (positive and negative) and the
// handler's workspace cache lifetimes to d; time.Nanosecond makes every key or workspace change
// show in the next request. The default is the production defaults.
func CacheTTL(d time.Duration) Option { return func(s *settings) { s.cacheTTL = d } }

// ProcessEnv points the process's AWS configuration at the stack for the rest
// of the binary, as an operator's shell would: the stack's environment
// (devstack.Stack.Env), no shared config or credentials files, no AWS_PROFILE.
// For code under test that calls config.LoadDefaultConfig itself.
func ProcessEnv() Option { return func(s *settings) { s.processEnv = true } }

var (
	opts    settings
	once    sync.Once
	stack   *devstack.Stack
	handler *api.Handler
	authz   *authorizer.Authorizer
	srv     *httptest.Server
	failed  error
)

// Main runs the tests with DynamoDB Local (ddbtest.Main), then stops the stack
// and the API server if a test started them. Use it from TestMain:
// os.Exit(stacktest.Main(m, options...)).
func Main(m *testing.M, options ...Option) int {
	for _, o := range options {
		o(&opts)
	}
	code := ddbtest.Main(m)
	if srv != nil {
		srv.Close()
	}
	if stack != nil {
		// Binaries share one DynamoDB Local under make test, which slows down
		// as it fills: leave nothing behind.
		_, _ = stack.DynamoDB().DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(stack.Table)})
		stack.Close()
	}
	return code
}

// API returns the binary's stack and the base URL of the API on it, an
// httptest server serving gateway.VipMessages with the real authorizer and
// handler.
func API(t testing.TB) (*devstack.Stack, string) {
	t.Helper()
	start(t)
	return stack, srv.URL
}

// Invoke answers a proxy event as the stage does, without HTTP: the
// authorizer behind API's URL first (a refusal is the stage's 401 or 503),
// then, with its context, the handler.
func Invoke(t testing.TB, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	start(t)
	ctx := context.Background()
	decision, err := authz.Handle(ctx, authorizer.Event(ev, gateway.MethodArn(gateway.VipMessages)))
	if r, refused := authorizer.Refuse(decision, err); refused {
		resp := events.APIGatewayProxyResponse{StatusCode: r.Status, Body: r.Body, Headers: map[string]string{"Content-Type": "application/json"}}
		if r.RetryAfter != "" {
			resp.Headers["Retry-After"] = r.RetryAfter
		}
		return resp
	}
	resp, _ := handler.Handle(ctx, authorizer.WithContext(ev, decision)) // Handle never fails
	return resp
}

func start(t testing.TB) {
	t.Helper()
	endpoint := ddbtest.Endpoint(t)
	once.Do(func() {
		// No deadline of its own: seeding under -race on a busy machine takes
		// what it takes, and go test's -timeout bounds it.
		ctx := context.Background()
		stack, failed = devstack.Start(ctx, devstack.Options{
			DynamoEndpoint: endpoint,
			FreePorts:      true,
			// One table per binary, unique when binaries share VIP_TEST_DYNAMODB_ENDPOINT.
			Table:   fmt.Sprintf("stacktest-%d", os.Getpid()),
			SeedNow: time.Now().UTC().Truncate(time.Second),
			// No label indexer runs on it: its stream would only slow the
			// DynamoDB Local that make test's binaries share.
			WithoutStream: true,
		})
		if failed != nil {
			return
		}
		if opts.processEnv {
			setProcessEnv(stack)
		}
		handler, authz = newHandler(stack)
		srv = httptest.NewServer(gateway.NewWithOptions(gateway.VipMessages, handler.Handle, gateway.Options{Authorizer: authz.Handle, Routes: []gateway.Route{gateway.Labels}}))
	})
	if failed != nil {
		t.Fatalf("stacktest: %v", failed)
	}
}

func newHandler(s *devstack.Stack) (*api.Handler, *authorizer.Authorizer) {
	cfg, zcfg := s.Config(), s.AuthorizerConfig()
	if d := opts.cacheTTL; d > 0 {
		zcfg.Keys = keystore.CacheConfig{TTL: d, NegativeTTL: d}
		cfg.WorkspaceTTL = d
	}
	log := slog.New(slog.DiscardHandler)
	return app.NewWithClient(cfg, s.DynamoDB(), log), authorizerapp.New(zcfg, s.SecretsManager(), log)
}

func setProcessEnv(s *devstack.Stack) {
	for k, v := range s.Env() {
		os.Setenv(k, v)
	}
	// Files that do not exist: nothing of the machine's AWS setup leaks in.
	os.Setenv("AWS_CONFIG_FILE", filepath.Join(os.TempDir(), "stacktest-no-aws-config"))
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(os.TempDir(), "stacktest-no-aws-credentials"))
	os.Unsetenv("AWS_PROFILE")
}
