package repo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRootHoldsTheModule(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"go.mod", "template.yaml", "openapi.yaml", "events/list.json"} {
		p, err := Path(rel)
		if err != nil {
			t.Fatal(err)
		}
		if p != filepath.Join(root, filepath.FromSlash(rel)) {
			t.Errorf("Path(%q) = %s, not under %s", rel, p, root)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
}

// A go.mod of another module (a nested tool, a vendored copy) is not the root.
func TestRootSkipsOtherModules(t *testing.T) {
	for _, tc := range []struct {
		gomod string
		want  bool
	}{
		{"module " + Module + "\n\ngo 1.26\n", true},
		{"// comment\nmodule \"" + Module + "\"\n", true},
		{"module example.com/other\n", false},
		{"go 1.26\n", false},
	} {
		p := filepath.Join(t.TempDir(), "go.mod")
		if err := os.WriteFile(p, []byte(tc.gomod), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := declaresModule(p); got != tc.want {
			t.Errorf("declaresModule(%q) = %v, want %v", tc.gomod, got, tc.want)
		}
	}
	if declaresModule(filepath.Join(t.TempDir(), "missing")) {
		t.Error("a missing go.mod declares the module")
	}
}
