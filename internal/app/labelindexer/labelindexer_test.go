package labelindexer

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/app/envvar"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Config
		errs []string // substrings of the error; none: valid
	}{
		{name: "defaults", env: map[string]string{"TABLE_NAME": "t"}, want: Config{Table: "t", LogLevel: slog.LevelInfo, Stage: envvar.DefaultStage}},
		{name: "all set, trimmed", env: map[string]string{"TABLE_NAME": " t ", "LOG_LEVEL": "debug", "STAGE": "prod "},
			want: Config{Table: "t", LogLevel: slog.LevelDebug, Stage: "prod"}},
		{name: "the API's variables play no part", env: map[string]string{"TABLE_NAME": "t", "LABEL_QUERY": "scan", "KEY_CACHE_TTL": "5"},
			want: Config{Table: "t", LogLevel: slog.LevelInfo, Stage: envvar.DefaultStage}},
		{name: "missing table", env: map[string]string{}, errs: []string{"TABLE_NAME is required"}},
		{name: "blank table", env: map[string]string{"TABLE_NAME": "  "}, errs: []string{"TABLE_NAME is required"}},
		{name: "every problem at once", env: map[string]string{"LOG_LEVEL": "loud", "STAGE": "my stage"}, errs: []string{"TABLE_NAME is required", `LOG_LEVEL="loud"`, `STAGE="my stage"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) string { return tt.env[k] })
			if len(tt.errs) == 0 {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			for _, s := range tt.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(context.Background(), func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "TABLE_NAME") {
		t.Fatalf("err = %v, want the missing TABLE_NAME", err)
	}
	// The AWS configuration comes through getenv too (internal/awsenv).
	env := map[string]string{"TABLE_NAME": "t", "STAGE": "dev", "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
	ix, err := Load(context.Background(), func(k string) string { return env[k] }, io.Discard)
	if err != nil || ix == nil || ix.Stage != "dev" {
		t.Fatalf("LoadIndexer = %+v, %v; want an indexer of stage dev", ix, err)
	}
}
