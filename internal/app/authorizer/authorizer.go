// Package authorizer builds the authorizer function (functions/authorizer) from
// environment variables. It is a package of its own, apart from internal/app,
// so that the authorizer links none of the API function's packages and clients
// (DynamoDB above all; docs/performance.md).
package authorizer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/internal/app/envvar"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/auth/keystore"
	authz "github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/awsenv"
)

// Config is the authorizer function's configuration.
type Config struct {
	SecretPrefix string               // SECRET_PREFIX, required
	Keys         keystore.CacheConfig // KEY_CACHE_TTL, KEY_NEGATIVE_TTL, KEY_STALE_TTL
	LogLevel     slog.Level           // LOG_LEVEL: debug, info (default), warn, error
	Stage        string               // STAGE: the metrics' Stage dimension; envvar.DefaultStage when unset
}

// FromEnv reads the Config through getenv. Every problem
// is reported at once.
func FromEnv(getenv func(string) string) (Config, error) {
	r := envvar.New(getenv)
	c := Config{
		SecretPrefix: strings.TrimSuffix(r.Required("SECRET_PREFIX"), "/"),
		Keys:         keystore.CacheConfig{TTL: r.Duration("KEY_CACHE_TTL"), NegativeTTL: r.Duration("KEY_NEGATIVE_TTL"), StaleTTL: r.Duration("KEY_STALE_TTL")},
		LogLevel:     r.LogLevel(),
		Stage:        r.Stage(),
	}
	return c, r.Err()
}

// Logger is the JSON logger of the function at the configured level.
func (c Config) Logger(w io.Writer) *slog.Logger { return envvar.Logger(w, c.LogLevel) }

// New builds the authorizer around a given client (tests point it
// at the local Secrets Manager).
func New(c Config, sm *secretsmanager.Client, log *slog.Logger) *authz.Authorizer {
	keys := keystore.New(sm, c.SecretPrefix, c.Keys, log)
	return authz.New(auth.NewVerifier(keys, log), log, authz.WithMetrics(c.Stage))
}

// Load reads the configuration and the AWS configuration and
// builds the authorizer: all its main needs.
func Load(_ context.Context, getenv func(string) string, logOut io.Writer) (*authz.Authorizer, error) {
	c, err := FromEnv(getenv)
	awsCfg, awsErr := awsenv.Config(getenv)
	if err := errors.Join(err, awsErr); err != nil {
		return nil, err
	}
	return New(c, secretsmanager.NewFromConfig(awsCfg), c.Logger(logOut)), nil
}
