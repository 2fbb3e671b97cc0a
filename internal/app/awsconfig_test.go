package app_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/app/authorizer"
	"github.com/vip-messages/api/internal/app/labelindexer"
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
		"TABLE_NAME": "t", "SECRET_PREFIX": "p",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	loaders := map[string]func() error{
		"Load": func() error {
			_, err := app.Load(context.Background(), os.Getenv, io.Discard)
			return err
		},
		"labelindexer.Load": func() error {
			_, err := labelindexer.Load(context.Background(), os.Getenv, io.Discard)
			return err
		},
		"authorizer.Load": func() error {
			_, err := authorizer.Load(context.Background(), os.Getenv, io.Discard)
			return err
		},
	}
	for name, load := range loaders {
		if err := load(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
