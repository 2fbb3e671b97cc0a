// Package repo finds the files of this repository (template.yaml, openapi.yaml,
// events/, the installed tools) for the tests and the local stack. It is the one
// way they find the repository root.
package repo

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Module is the module path go.mod declares at the root.
const Module = "github.com/vip-messages/api"

// Root is the repository root: the nearest folder, from the working directory
// upwards, whose go.mod declares Module. Tests run in their package's folder,
// and `make` in the root, so both find it; a binary run from elsewhere does not.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of " + Module + " above the working directory: run from inside the repository")
		}
		dir = parent
	}
}

// Path is the file at the slash-separated path rel under the repository root,
// e.g. Path("template.yaml").
func Path(rel string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.FromSlash(rel)), nil
}

// declaresModule reports whether the go.mod at path declares Module.
func declaresModule(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`) == Module
		}
	}
	return false
}
