// Package devstack runs the whole local stack in one process: DynamoDB Local, the
// local Secrets Manager endpoint, the table from template.yaml with the demo data,
// and the demo API key (docs/local-stack.md). `make run`, `make invoke` and the end-to-end
// tests use it.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/app/authorizer"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/local/smlocal"
)

// The fixed local defaults (docs/local-stack.md, README.md).
const (
	APIAddr      = "localhost:3000"
	DynamoPort   = 8000
	SecretsAddr  = "127.0.0.1:8010"
	Region       = "us-east-1"
	SecretPrefix = "vip-api/local/api-keys"
	Table        = "vip-messages-local"
	DemoKeyID    = "demo-key-0001"
	DemoSecret   = "demo-secret-please-change"
)

// Options of Start. Zero values take the fixed defaults above, except that a
// zero DynamoPort with FreePorts picks free ports for tests.
type Options struct {
	// DynamoEndpoint reuses a running DynamoDB Local instead of starting one.
	DynamoEndpoint string
	DynamoPort     int
	SecretsAddr    string
	// FreePorts starts DynamoDB Local and the Secrets Manager endpoint on free
	// ports, for tests and `make invoke` beside a running `make run`.
	FreePorts bool
	Table     string
	// SeedNow anchors the demo data (the 60 days before it); zero means now.
	SeedNow time.Time
	// Log receives DynamoDB Local's output; nil discards it.
	Log io.Writer
	// WithoutStream creates the table without its stream, for tests that run
	// no label indexer on it (ddblocal.CreateTableWithoutStream says why).
	WithoutStream bool
}

// Stack is a running local stack.
type Stack struct {
	DynamoEndpoint  string
	SecretsEndpoint string
	Table           string
	SecretPrefix    string
	Secrets         *smlocal.Service
	SeedNow         time.Time

	ddb           *ddblocal.Server
	sm            *smlocal.Server
	withoutStream bool
}

// Start brings the stack up and seeds it; Close stops what it started.
func Start(ctx context.Context, opt Options) (_ *Stack, err error) {
	s := &Stack{Table: opt.Table, SecretPrefix: SecretPrefix, SeedNow: opt.SeedNow, withoutStream: opt.WithoutStream}
	if s.Table == "" {
		s.Table = Table
	}
	if s.SeedNow.IsZero() {
		s.SeedNow = time.Now()
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	s.DynamoEndpoint = opt.DynamoEndpoint
	if s.DynamoEndpoint == "" {
		port := opt.DynamoPort
		if port == 0 && !opt.FreePorts {
			port = DynamoPort
		}
		if s.ddb, err = ddblocal.Start(ctx, ddblocal.Options{Port: port, Log: opt.Log}); err != nil {
			return nil, err
		}
		s.DynamoEndpoint = s.ddb.Endpoint
	}
	addr := opt.SecretsAddr
	if addr == "" {
		addr = SecretsAddr
		if opt.FreePorts {
			addr = "127.0.0.1:0"
		}
	}
	if s.sm, err = smlocal.Listen(addr); err != nil {
		return nil, fmt.Errorf("local Secrets Manager on %s: %w", addr, err)
	}
	s.SecretsEndpoint, s.Secrets = s.sm.URL, s.sm.Service

	if err := s.seed(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stack) seed(ctx context.Context) error {
	ddb := s.DynamoDB()
	_, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.Table)})
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		create := ddblocal.CreateTable
		if s.withoutStream {
			create = ddblocal.CreateTableWithoutStream
		}
		err = create(ctx, ddb, s.Table)
	}
	if err != nil {
		return fmt.Errorf("table %s: %w", s.Table, err)
	}
	if err := seed.NewWriter(ddb, s.Table).Write(ctx, seed.Demo(s.SeedNow)); err != nil {
		return err
	}
	return smlocal.PutKey(ctx, s.SecretsManager(), s.SecretPrefix, DemoKeyID, auth.SecretValue{
		Secrets:      []string{DemoSecret},
		WorkspaceIDs: []string{seed.DemoWorkspace, seed.DemoBasicWorkspace},
	})
}

// DynamoDB is a client for the stack's DynamoDB Local.
func (s *Stack) DynamoDB() *dynamodb.Client { return ddblocal.NewClient(s.DynamoEndpoint) }

// SecretsManager is a client for the stack's Secrets Manager endpoint.
func (s *Stack) SecretsManager() *secretsmanager.Client { return smlocal.NewClient(s.SecretsEndpoint) }

// Env is the function's environment against this stack: the same variables a
// deployed function gets, plus the SDK's standard endpoint overrides.
func (s *Stack) Env() map[string]string {
	return map[string]string{
		"TABLE_NAME":                       s.Table,
		"SECRET_PREFIX":                    s.SecretPrefix,
		"AWS_REGION":                       Region,
		"AWS_ACCESS_KEY_ID":                "local",
		"AWS_SECRET_ACCESS_KEY":            "local",
		"AWS_ENDPOINT_URL_DYNAMODB":        s.DynamoEndpoint,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": s.SecretsEndpoint,
		// No shared config files or instance metadata locally.
		"AWS_EC2_METADATA_DISABLED": "true",
	}
}

// Config is the service configuration of this stack.
func (s *Stack) Config() app.Config {
	c, err := app.FromEnv(func(k string) string { return s.Env()[k] })
	if err != nil {
		panic(err) // Env always holds a valid configuration
	}
	return c
}

// AuthorizerConfig is the authorizer's configuration on this stack.
func (s *Stack) AuthorizerConfig() authorizer.Config {
	c, err := authorizer.FromEnv(func(k string) string { return s.Env()[k] })
	if err != nil {
		panic(err) // Env always holds a valid configuration
	}
	return c
}

// LabelIndexer is the label indexer on the table's stream, as the deployed
// event source mapping runs it in the simple case (stream.go): the same
// labelindex handler, invoked in process. The caller runs it (Run) until its
// context ends; log gets the indexer's lines and, at debug level, the lag of
// each batch.
func (s *Stack) LabelIndexer(ctx context.Context, log *slog.Logger) (*Poller, error) {
	stream, err := OpenStream(ctx, s.DynamoEndpoint, s.Table, false)
	if err != nil {
		return nil, err
	}
	ix := labelindex.NewIndexer(s.DynamoDB(), s.Table, log)
	ix.Stage = s.Config().Stage // the same metrics lines a deployed stage writes
	return NewPoller(stream, ix.Handle, log), nil
}

// Close stops what Start started.
func (s *Stack) Close() {
	if s.sm != nil {
		_ = s.sm.Close()
	}
	s.ddb.Stop()
}
