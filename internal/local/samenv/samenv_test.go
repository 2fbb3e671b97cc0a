package samenv_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/vip-messages/api/internal/local/samenv"
)

func TestEnv(t *testing.T) {
	tpl, err := samenv.Load(filepath.Join("testdata", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := samenv.LoadEnvFile(filepath.Join("testdata", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := tpl.Env("Fn", f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TABLE_NAME":                      "t-local",   // intrinsic, overridden by Parameters
		"SHARED":                          "plain",     // from Globals
		"PREFIX":                          "",          // intrinsic, not overridden: blank
		"SUBBED":                          "",          // ditto
		"MAPPED":                          "",          // a mapping is an intrinsic too
		"LIMIT":                           "8",         // scalars as text
		"FLAG":                            "true",      // booleans as SAM writes them
		"ALIAS":                           "plain",     // YAML alias resolved
		"ENDPOINT":                        "http://fn", // the function's section wins over Parameters
		"AWS_ACCESS_KEY_ID":               samenv.PlaceholderKey,
		"AWS_SECRET_ACCESS_KEY":           samenv.PlaceholderSecret,
		"AWS_REGION":                      samenv.PlaceholderRegion,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "9",
	}
	for k, v := range want {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	for _, dropped := range []string{"UNDECLARED", "NOBODY", "A"} {
		if _, ok := env[dropped]; ok {
			t.Errorf("%s set: SAM only overrides declared variables", dropped)
		}
	}
	other, _ := tpl.Env("Other", f)
	if other["AWS_LAMBDA_FUNCTION_TIMEOUT"] != "30" || other["ENDPOINT"] != "" || other["TABLE_NAME"] != "t-local" {
		t.Errorf("Other: %v", other)
	}
	if got, want := tpl.Check(f), []string{
		"Fn.UNDECLARED: the function does not declare it, SAM drops it",
		"Missing: not a function of the template",
		"Parameters.NOBODY: no function declares it, SAM drops it",
	}; !slices.Equal(got, want) {
		t.Errorf("Check:\n%q\nwant\n%q", got, want)
	}
	if got := tpl.Functions(); !slices.Equal(got, []string{"Fn", "Other"}) {
		t.Errorf("functions %v", got)
	}
}
