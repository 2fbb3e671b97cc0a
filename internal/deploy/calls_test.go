package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGrantedActionsAreCalled: every DynamoDB table action a function is
// granted is a call its own code makes (a method of that name on the
// client), so a grant no code needs, like GetItem once, does not stay.
func TestGrantedActionsAreCalled(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH: cannot list the functions' packages")
	}
	for _, fn := range []struct {
		pkg     string
		actions map[string]string
	}{
		{"./functions/vip-messages", allowedActions},
		{"./functions/label-indexer", indexerActions},
	} {
		src := sourcesOf(t, fn.pkg)
		for action, kind := range fn.actions {
			method, ok := strings.CutPrefix(action, "dynamodb:")
			if !ok || kind != "table" {
				continue
			}
			if !strings.Contains(src, "."+method+"(") {
				t.Errorf("%s is granted %s, but its code never calls %s", fn.pkg, action, method)
			}
		}
	}
}

// sourcesOf is the non-test Go source of pkg and of every package of this
// module it imports.
func sourcesOf(t *testing.T, pkg string) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.Module.Path}} {{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{end}}`, pkg)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "github.com/vip-messages/api" {
			continue
		}
		for _, name := range f[2:] {
			code, err := os.ReadFile(filepath.Join(f[1], name))
			if err != nil {
				t.Fatal(err)
			}
			b.Write(code)
		}
	}
	if b.Len() == 0 {
		t.Fatalf("no source found for %s", pkg)
	}
	return b.String()
}
