// Package labelindexer builds the label indexer function (functions/label-indexer)
// from environment variables. It is a package of its own, apart from
// internal/app, so that the indexer links none of the API's packages and
// clients (docs/performance.md).
package labelindexer

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/app/envvar"
	"github.com/vip-messages/api/internal/awsenv"
	"github.com/vip-messages/api/internal/labelindex"
)

// Config is the label indexer function's configuration.
type Config struct {
	Table    string     // TABLE_NAME, required
	LogLevel slog.Level // LOG_LEVEL: debug, info (default), warn, error
	Stage    string     // STAGE: the metrics' Stage dimension; envvar.DefaultStage when unset
}

// FromEnv reads the Config through getenv. Every problem is reported at once.
func FromEnv(getenv func(string) string) (Config, error) {
	r := envvar.New(getenv)
	c := Config{Table: r.Required("TABLE_NAME"), LogLevel: r.LogLevel(), Stage: r.Stage()}
	return c, r.Err()
}

// Logger is the JSON logger of the function at the configured level.
func (c Config) Logger(w io.Writer) *slog.Logger { return envvar.Logger(w, c.LogLevel) }

// New builds the indexer around a given client.
func New(c Config, ddb labelindex.API, log *slog.Logger) *labelindex.Indexer {
	ix := labelindex.NewIndexer(ddb, c.Table, log)
	ix.Stage = c.Stage
	return ix
}

// Load reads the configuration and the AWS configuration and builds the
// label indexer: all its main needs.
func Load(_ context.Context, getenv func(string) string, logOut io.Writer) (*labelindex.Indexer, error) {
	c, err := FromEnv(getenv)
	awsCfg, awsErr := awsenv.Config(getenv)
	if err := errors.Join(err, awsErr); err != nil {
		return nil, err
	}
	return New(c, dynamodb.NewFromConfig(awsCfg), c.Logger(logOut)), nil
}
