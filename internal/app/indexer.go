package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/awsenv"
	"github.com/vip-messages/api/internal/labelindex"
)

// IndexerConfig is the label indexer function's configuration.
type IndexerConfig struct {
	Table    string     // TABLE_NAME, required
	LogLevel slog.Level // LOG_LEVEL: debug, info (default), warn, error
	Stage    string     // STAGE: the metrics' Stage dimension; DefaultStage when unset
}

// IndexerFromEnv reads the IndexerConfig through getenv. Every problem is
// reported at once.
func IndexerFromEnv(getenv func(string) string) (IndexerConfig, error) {
	e := &env{getenv: getenv}
	c := IndexerConfig{Table: e.required("TABLE_NAME"), LogLevel: e.logLevel(), Stage: e.stage()}
	return c, errors.Join(e.errs...)
}

// Logger is the JSON logger of the function at the configured level.
func (c IndexerConfig) Logger(w io.Writer) *slog.Logger { return logger(w, c.LogLevel) }

// NewIndexer builds the indexer around a given client.
func NewIndexer(c IndexerConfig, ddb labelindex.API, log *slog.Logger) *labelindex.Indexer {
	ix := labelindex.NewIndexer(ddb, c.Table, log)
	ix.Stage = c.Stage
	return ix
}

// LoadIndexer reads the configuration and the AWS configuration and builds the
// label indexer: all its main needs.
func LoadIndexer(ctx context.Context, getenv func(string) string, logOut io.Writer) (*labelindex.Indexer, error) {
	c, err := IndexerFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Config(getenv)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return NewIndexer(c, dynamodb.NewFromConfig(awsCfg), c.Logger(logOut)), nil
}
