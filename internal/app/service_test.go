package app

import (
	"log/slog"
	"strings"
	"testing"
	"time"

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
