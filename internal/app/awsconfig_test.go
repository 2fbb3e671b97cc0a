package app_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/app/authorizer"
	"github.com/vip-messages/api/internal/app/labelindexer"
	"github.com/vip-messages/api/internal/pretraffic"
)

// Each function's loader builds its AWS configuration from the Lambda
// environment alone (internal/awsenv): a HOME whose ~/.aws files are broken,
// the variables naming them, and a profile that is nowhere change nothing,
// where config.LoadDefaultConfig would fail the cold start.
func TestLoadersIgnoreSharedFiles(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(home, ".aws", name), []byte("[profile broken\ncredential_process = /bin/false\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, ".aws", "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, ".aws", "credentials"),
		"AWS_PROFILE": "broken", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
		"TABLE_NAME": "t", "SECRET_PREFIX": "p", "STAGE": "dev", "TARGET_VERSION_ARN": "arn:v1", "AUTHORIZER_FUNCTION": "authz",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	for name, load := range loaders {
		if err := load(os.Getenv); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A function's cold start reports every problem of its configuration and of
// its AWS configuration at once.
func TestLoadersReportEveryProblem(t *testing.T) {
	// One variable of the function's own, one of the AWS configuration.
	want := map[string][]string{
		"Load":              {"TABLE_NAME", "AWS_ACCESS_KEY_ID"},
		"labelindexer.Load": {"TABLE_NAME", "AWS_ACCESS_KEY_ID"},
		"authorizer.Load":   {"SECRET_PREFIX", "AWS_ACCESS_KEY_ID"},
		"pretraffic.Load":   {"TARGET_VERSION_ARN", "STAGE", "AWS_ACCESS_KEY_ID"},
	}
	for name, load := range loaders {
		err := load(func(string) string { return "" })
		if err == nil {
			t.Errorf("%s: no error without any variable", name)
			continue
		}
		for _, v := range want[name] {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("%s: %q does not name %s", name, err, v)
			}
		}
	}
}

// loaders are each function's loader.
var loaders = map[string]func(getenv func(string) string) error{
	"Load": func(getenv func(string) string) error {
		_, err := app.Load(context.Background(), getenv, io.Discard)
		return err
	},
	"labelindexer.Load": func(getenv func(string) string) error {
		_, err := labelindexer.Load(context.Background(), getenv, io.Discard)
		return err
	},
	"authorizer.Load": func(getenv func(string) string) error {
		_, err := authorizer.Load(context.Background(), getenv, io.Discard)
		return err
	},
	"pretraffic.Load": func(getenv func(string) string) error {
		_, err := pretraffic.Load(getenv, io.Discard)
		return err
	},
}
