package app

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/messages"
)

func TestFromEnv(t *testing.T) {
	base := map[string]string{"TABLE_NAME": "t"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name  string
		env   map[string]string
		errs  []string // substrings of the error; none: valid
		check func(t *testing.T, c Config)
	}{
		{name: "defaults", env: base, check: func(t *testing.T, c Config) {
			if c.Table != "t" || c.LogLevel != slog.LevelInfo || c.Stage != DefaultStage {
				t.Fatalf("%+v", c)
			}
			if c.WorkspaceTTL != 0 || c.Budget.MaxCalls != 0 || c.LabelPath != messages.LabelViaIndex {
				t.Fatalf("zero values must leave the packages' defaults: %+v", c)
			}
		}},
		{name: "all set", env: with("LOG_LEVEL", "debug",
			"WORKSPACE_CACHE_TTL", "15s", "FILTER_MAX_CALLS", "3", "FILTER_MAX_ITEMS", "900", "LABEL_QUERY", "filter", "STAGE", "staging"), check: func(t *testing.T, c Config) {
			if c.LogLevel != slog.LevelDebug || c.WorkspaceTTL != 15*time.Second || c.Budget.MaxCalls != 3 || c.Budget.MaxItems != 900 ||
				c.LabelPath != messages.LabelViaFilter || c.Stage != "staging" {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "missing required", env: map[string]string{}, errs: []string{"TABLE_NAME is required"}},
		{name: "bad values, all reported", env: with("LOG_LEVEL", "loud", "WORKSPACE_CACHE_TTL", "-1s", "FILTER_MAX_ITEMS", "many", "FILTER_MAX_CALLS", "101", "LABEL_QUERY", "scan", "STAGE", "pröd"),
			errs: []string{"LOG_LEVEL", "WORKSPACE_CACHE_TTL", "FILTER_MAX_ITEMS", "FILTER_MAX_CALLS", "LABEL_QUERY", "STAGE"}},
		{name: "stage with a space", env: with("STAGE", "my stage"), errs: []string{"STAGE"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := FromEnv(func(k string) string { return c.env[k] })
			if len(c.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				c.check(t, cfg)
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, s := range c.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

func TestAuthorizerFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want AuthorizerConfig
		errs []string
	}{
		{name: "defaults", env: map[string]string{"SECRET_PREFIX": "vip-api/prod/api-keys/"},
			want: AuthorizerConfig{SecretPrefix: "vip-api/prod/api-keys", LogLevel: slog.LevelInfo, Stage: DefaultStage}},
		{name: "all set", env: map[string]string{"SECRET_PREFIX": "p", "KEY_CACHE_TTL": "2m", "KEY_NEGATIVE_TTL": "10s", "KEY_STALE_TTL": "30m", "LOG_LEVEL": "debug", "STAGE": "prod"},
			want: AuthorizerConfig{SecretPrefix: "p", Keys: auth.CacheConfig{TTL: 2 * time.Minute, NegativeTTL: 10 * time.Second, StaleTTL: 30 * time.Minute}, LogLevel: slog.LevelDebug, Stage: "prod"}},
		{name: "the API's variables play no part", env: map[string]string{"SECRET_PREFIX": "p", "TABLE_NAME": "t", "LABEL_QUERY": "scan"},
			want: AuthorizerConfig{SecretPrefix: "p", LogLevel: slog.LevelInfo, Stage: DefaultStage}},
		{name: "every problem at once", env: map[string]string{"KEY_CACHE_TTL": "5", "LOG_LEVEL": "loud"}, errs: []string{"SECRET_PREFIX is required", "KEY_CACHE_TTL", "LOG_LEVEL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AuthorizerFromEnv(func(k string) string { return tc.env[k] })
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
