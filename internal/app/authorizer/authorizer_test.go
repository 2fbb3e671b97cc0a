package authorizer

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/app/envvar"
	"github.com/vip-messages/api/internal/auth/keystore"
)

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Config
		errs []string
	}{
		{name: "defaults", env: map[string]string{"SECRET_PREFIX": "vip-api/prod/api-keys/"},
			want: Config{SecretPrefix: "vip-api/prod/api-keys", LogLevel: slog.LevelInfo, Stage: envvar.DefaultStage}},
		{name: "all set", env: map[string]string{"SECRET_PREFIX": "p", "KEY_CACHE_TTL": "2m", "KEY_NEGATIVE_TTL": "10s", "KEY_STALE_TTL": "30m", "LOG_LEVEL": "debug", "STAGE": "prod"},
			want: Config{SecretPrefix: "p", Keys: keystore.CacheConfig{TTL: 2 * time.Minute, NegativeTTL: 10 * time.Second, StaleTTL: 30 * time.Minute}, LogLevel: slog.LevelDebug, Stage: "prod"}},
		{name: "the API's variables play no part", env: map[string]string{"SECRET_PREFIX": "p", "TABLE_NAME": "t", "LABEL_QUERY": "scan"},
			want: Config{SecretPrefix: "p", LogLevel: slog.LevelInfo, Stage: envvar.DefaultStage}},
		{name: "every problem at once", env: map[string]string{"KEY_CACHE_TTL": "5", "LOG_LEVEL": "loud"}, errs: []string{"SECRET_PREFIX is required", "KEY_CACHE_TTL", "LOG_LEVEL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) string { return tc.env[k] })
			if len(tc.errs) == 0 {
				if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			for _, s := range tc.errs {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("error %v does not mention %s", err, s)
				}
			}
		})
	}
}
