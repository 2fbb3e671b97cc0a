// Package app builds the API function from environment variables; its
// subpackages build the authorizer (authorizer) and the label indexer
// (labelindexer), each apart so that a function links only its own packages,
// all reading their variables with envvar. It is the one place where
// configuration is read, shared by the Lambdas' mains and the local stack, so
// both run the same wiring. The AWS configuration is the Lambda environment's
// (internal/awsenv), with the SDK's standard endpoint overrides
// (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SECRETS_MANAGER for the local
// stack); there is no local branch here.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/access"
	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/app/envvar"
	"github.com/vip-messages/api/internal/awsenv"
	"github.com/vip-messages/api/internal/labelcount"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/metrics"
)

// Config is the function's configuration.
type Config struct {
	Table        string          // TABLE_NAME, required
	LogLevel     slog.Level      // LOG_LEVEL: debug, info (default), warn, error
	WorkspaceTTL time.Duration   // WORKSPACE_CACHE_TTL
	Budget       messages.Budget // FILTER_MAX_CALLS, FILTER_MAX_ITEMS
	// LabelPath is how label queries are read (LABEL_QUERY): "index" (default),
	// the stream-maintained label index, or "filter", a FilterExpression over the
	// channel, for a stage whose index is not backfilled yet.
	LabelPath messages.LabelPath
	// Stage names the deployment stage in the metrics (STAGE, the Stage
	// dimension); "local" when unset.
	Stage string
}

// DefaultStage is Config.Stage when STAGE is unset: the local stack's.
const DefaultStage = envvar.DefaultStage

// FromEnv reads the Config through getenv (os.Getenv in production). Every
// problem is reported at once.
func FromEnv(getenv func(string) string) (Config, error) {
	r := envvar.New(getenv)
	var c Config
	c.Table = r.Required("TABLE_NAME")
	c.LogLevel = r.LogLevel()
	c.WorkspaceTTL = r.Duration("WORKSPACE_CACHE_TTL")
	// The bounds keep one request within the function's timeout (and a Query's
	// Limit within int32).
	c.Budget = messages.Budget{MaxCalls: r.Number("FILTER_MAX_CALLS", 100), MaxItems: r.Number("FILTER_MAX_ITEMS", 100_000)}
	switch v := r.Get("LABEL_QUERY"); v {
	case "", "index":
		c.LabelPath = messages.LabelViaIndex
	case "filter":
		c.LabelPath = messages.LabelViaFilter
	default:
		r.Fail(fmt.Errorf("LABEL_QUERY=%q: want index or filter", v))
	}
	c.Stage = r.Stage()
	return c, r.Err()
}

// Logger is the JSON logger of the function at the configured level.
func (c Config) Logger(w io.Writer) *slog.Logger { return envvar.Logger(w, c.LogLevel) }

// New builds the handler with a client made once, from awsCfg.
func New(c Config, awsCfg aws.Config, log *slog.Logger) *api.Handler {
	return NewWithClient(c, dynamodb.NewFromConfig(awsCfg), log)
}

// NewWithClient builds the handler around a given client (tests point it at
// the local stack). It trusts the key the authorizer passes on: it reads no
// secret.
func NewWithClient(c Config, ddb *dynamodb.Client, log *slog.Logger) *api.Handler {
	return api.New(
		access.NewChecker(timedDynamoDB{ddb}, c.Table, access.Config{TTL: c.WorkspaceTTL}),
		messages.NewStore(timedDynamoDB{ddb}, c.Table, c.Budget, messages.WithLabelPath(c.LabelPath)),
		log,
		api.WithMetrics(c.Stage),
		api.WithCounter(labelcount.NewStore(timedDynamoDB{ddb}, c.Table)),
	)
}

// Load reads the configuration and the AWS configuration and builds the
// handler: all a main needs.
func Load(ctx context.Context, getenv func(string) string, logOut io.Writer) (*api.Handler, error) {
	c, err := FromEnv(getenv)
	awsCfg, awsErr := awsenv.Config(getenv)
	if err := errors.Join(err, awsErr); err != nil {
		return nil, err
	}
	return New(c, awsCfg, c.Logger(logOut)), nil
}

// timedDynamoDB adds the time of each call the handler makes (SDK retries
// included) to the request's metrics (metrics.Recorder).
type timedDynamoDB struct{ *dynamodb.Client }

func (t timedDynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	start := time.Now()
	defer func() { metrics.FromContext(ctx).CalledDynamoDB(time.Since(start)) }()
	return t.Client.Query(ctx, in, opts...)
}

func (t timedDynamoDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	start := time.Now()
	defer func() { metrics.FromContext(ctx).CalledDynamoDB(time.Since(start)) }()
	return t.Client.BatchGetItem(ctx, in, opts...)
}
