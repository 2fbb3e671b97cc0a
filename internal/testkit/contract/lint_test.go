package contract

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/local/repo"
)

// openapiTool returns the path of a linter installed by `make tools`
// (tools/openapi, pinned in its package-lock.json) and the repository root. It
// skips the test when Node.js or the tool is missing; with VIP_REQUIRE_TOOLS set
// (the pipeline sets it) it fails instead.
func openapiTool(t *testing.T, name string) (bin, root string) {
	t.Helper()
	root, err := repo.Path(".")
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(root, "tools", "openapi", "node_modules", ".bin", name)
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := os.Stat(bin); err != nil {
		missing = name + " (tools/openapi)"
	}
	if missing != "" {
		msg := missing + " is not installed: linting openapi.yaml needs Node.js and `make tools`"
		if os.Getenv("VIP_REQUIRE_TOOLS") != "" {
			t.Fatal(msg + ", and VIP_REQUIRE_TOOLS is set")
		}
		t.Skip(msg)
	}
	return bin, root
}

// lintEnv is the environment of the linters: Spectral finds the OWASP ruleset
// that .spectral.yaml extends in tools/openapi, and Redocly neither sends
// telemetry nor looks for updates.
func lintEnv(root string) []string {
	return append(os.Environ(),
		"NODE_PATH="+filepath.Join(root, "tools", "openapi", "node_modules"),
		"REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
}

// brokenCopy writes openapi.yaml with old replaced by new into a temporary
// folder, so that a test can show its linter finds what it checks for.
func brokenCopy(t *testing.T, root, old, new string) string {
	t.Helper()
	spec, err := os.ReadFile(filepath.Join(root, "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(spec), old) {
		t.Fatalf("openapi.yaml has no %q to break", old)
	}
	path := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(spec), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lint runs a linter on openapi.yaml and on a broken copy: the first must pass,
// the second fail with wantErr, so the linter demonstrably checks the rules.
func lint(t *testing.T, bin, root, broken, wantErr string, args ...string) {
	t.Helper()
	for _, c := range []struct{ file, wantErr string }{
		{filepath.Join(root, "openapi.yaml"), ""},
		{broken, wantErr},
	} {
		cmd := exec.Command(bin, append(args, c.file)...)
		cmd.Dir = root
		cmd.Env = lintEnv(root)
		out, err := cmd.CombinedOutput()
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s %s: %v\n%s", filepath.Base(bin), c.file, err, out)
		case c.wantErr != "" && (err == nil || !strings.Contains(string(out), c.wantErr)):
			t.Errorf("%s %s: %v, want an error %s\n%s", filepath.Base(bin), c.file, err, c.wantErr, out)
		}
	}
}

// TestSpectral: openapi.yaml has no error under .spectral.yaml (spectral:oas and
// OWASP's ruleset, less the rules that do not fit this API); a copy without one
// string's maxLength gets OWASP's error, so the ruleset is really loaded.
func TestSpectral(t *testing.T) {
	t.Parallel()
	bin, root := openapiTool(t, "spectral")
	broken := brokenCopy(t, root, "message: {type: string, maxLength: 1024,", "message: {type: string,")
	lint(t, bin, root, broken, "owasp:api4:2023-string-limit",
		"lint", "--ruleset", filepath.Join(root, ".spectral.yaml"), "--fail-severity", "error", "--format", "text")
}

// TestRedocly: openapi.yaml has no error under Redocly's recommended rules; a
// copy with a reference to nothing has one.
func TestRedocly(t *testing.T) {
	t.Parallel()
	bin, root := openapiTool(t, "redocly")
	broken := brokenCopy(t, root, `$ref: "#/components/schemas/Kind"`, `$ref: "#/components/schemas/NoSuchKind"`)
	lint(t, bin, root, broken, "no-unresolved-refs", "lint")
}
