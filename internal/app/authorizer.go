package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/awsenv"
)

// AuthorizerConfig is the authorizer function's configuration.
type AuthorizerConfig struct {
	SecretPrefix string           // SECRET_PREFIX, required
	Keys         auth.CacheConfig // KEY_CACHE_TTL, KEY_NEGATIVE_TTL, KEY_STALE_TTL
	LogLevel     slog.Level       // LOG_LEVEL: debug, info (default), warn, error
	Stage        string           // STAGE: the metrics' Stage dimension; DefaultStage when unset
}

// AuthorizerFromEnv reads the AuthorizerConfig through getenv. Every problem
// is reported at once.
func AuthorizerFromEnv(getenv func(string) string) (AuthorizerConfig, error) {
	e := &env{getenv: getenv}
	c := AuthorizerConfig{
		SecretPrefix: strings.TrimSuffix(e.required("SECRET_PREFIX"), "/"),
		Keys:         auth.CacheConfig{TTL: e.duration("KEY_CACHE_TTL"), NegativeTTL: e.duration("KEY_NEGATIVE_TTL"), StaleTTL: e.duration("KEY_STALE_TTL")},
		LogLevel:     e.logLevel(),
		Stage:        e.stage(),
	}
	return c, errors.Join(e.errs...)
}

// Logger is the JSON logger of the function at the configured level.
func (c AuthorizerConfig) Logger(w io.Writer) *slog.Logger { return logger(w, c.LogLevel) }

// NewAuthorizer builds the authorizer around a given client (tests point it
// at the local Secrets Manager).
func NewAuthorizer(c AuthorizerConfig, sm *secretsmanager.Client, log *slog.Logger) *authorizer.Authorizer {
	keys := auth.NewKeyStore(sm, c.SecretPrefix, c.Keys, log)
	return authorizer.New(auth.NewVerifier(keys, log), log, authorizer.WithMetrics(c.Stage))
}

// LoadAuthorizer reads the configuration and the AWS configuration and
// builds the authorizer: all its main needs.
func LoadAuthorizer(ctx context.Context, getenv func(string) string, logOut io.Writer) (*authorizer.Authorizer, error) {
	c, err := AuthorizerFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Config(getenv)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return NewAuthorizer(c, secretsmanager.NewFromConfig(awsCfg), c.Logger(logOut)), nil
}
