package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// build is the go build that `make build-<LogicalId>` runs for sam build.
type build struct {
	goos, goarch, out, pkg string
	err                    error
}

const artifacts = "/ARTIFACTS"

// makeN caches functionBuilds' make runs by Makefile text and logical id.
var makeN sync.Map

// functionBuilds reads, with make -n, how the Makefile text builds each function
// of the template.
func functionBuilds(t *testing.T, makefile string, tpl obj) map[string]build {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	path := filepath.Join(t.TempDir(), "Makefile")
	if err := os.WriteFile(path, []byte(makefile), 0o644); err != nil {
		t.Fatal(err)
	}
	out := map[string]build{}
	for _, id := range ofType(tpl, "AWS::Serverless::Function") {
		if b, ok := makeN.Load(makefile + "\x00" + id); ok {
			out[id] = b.(build)
			continue
		}
		cmd := exec.Command("make", "--no-print-directory", "-n", "-f", path, "build-"+id, "ARTIFACTS_DIR="+artifacts)
		cmd.Dir = repoRoot(t)
		text, err := cmd.CombinedOutput()
		var b build
		if err != nil {
			b.err = fmt.Errorf("make -n build-%s: %v\n%s", id, err, text)
		}
		for _, line := range strings.Split(string(text), "\n") {
			f := strings.Fields(line)
			i := slices.Index(f, "build")
			if i < 1 || !strings.HasSuffix(f[i-1], "go") {
				continue
			}
			for _, kv := range f[:i-1] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "GOOS":
					b.goos = v
				case "GOARCH":
					b.goarch = v
				}
			}
			if o := slices.Index(f, "-o"); o > 0 && o+1 < len(f) {
				b.out = strings.Trim(f[o+1], `"'`)
				b.pkg = strings.Join(f[o+2:], " ")
			}
		}
		makeN.Store(makefile+"\x00"+id, b)
		out[id] = b
	}
	return out
}

// goarch is the GOARCH of a Lambda architecture; x86_64 is Lambda's default.
var goarch = map[string]string{"arm64": "arm64", "x86_64": "amd64", "": "amd64"}

func checkBuilds(t *testing.T, makefile, template string) []string {
	tpl, err := parseYAML(template)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	builds := functionBuilds(t, makefile, tpl)
	var pkgs []string
	for _, id := range ofType(tpl, "AWS::Serverless::Function") {
		b, props := builds[id], functionProps(tpl, id)
		arch := strings.Join(strs(props["Architectures"]), ",")
		switch {
		case get(tpl, "Resources", id, "Metadata", "BuildMethod") != "makefile":
			problems = append(problems, fmt.Sprintf("%s: Metadata.BuildMethod is not makefile: sam build would not run make build-%s", id, id))
		case b.err != nil:
			problems = append(problems, b.err.Error())
		case b.pkg == "":
			problems = append(problems, fmt.Sprintf("make build-%s builds no package: the Makefile has no FUNCTION_PKG_%s", id, id))
		case b.goos != "linux" || b.goarch != goarch[arch] || b.out != artifacts+"/"+str(props["Handler"]):
			problems = append(problems, fmt.Sprintf("make build-%s builds %s/%s into %s, want linux/%s into ARTIFACTS_DIR/%v (Architectures %s, Handler)",
				id, b.goos, b.goarch, b.out, goarch[arch], props["Handler"], arch))
		default:
			pkgs = append(pkgs, b.pkg)
		}
	}
	if len(pkgs) > 0 {
		cmd := exec.Command("go", append([]string{"list", "-f", "{{.ImportPath}} {{.Name}}"}, pkgs...)...)
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return append(problems, fmt.Sprintf("go list %v: %v\n%s", pkgs, err, out))
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if !strings.HasSuffix(line, " main") {
				problems = append(problems, fmt.Sprintf("the Makefile builds %s, not a main package", line))
			}
		}
	}
	return problems
}

// TestMakefileBuildsEveryFunction: sam build runs `make build-<LogicalId>` for
// every function of the template; each must build a main package for the
// function's platform, named as its Handler.
func TestMakefileBuildsEveryFunction(t *testing.T) {
	t.Parallel()
	makefile, template := readFile(t, "Makefile"), readFile(t, "template.yaml")
	for _, p := range checkBuilds(t, makefile, template) {
		t.Error(p)
	}
	for _, e := range []struct {
		makefile bool
		edit
	}{
		{true, edit{"a function missing from the Makefile", "FUNCTION_PKG_PreTrafficHookFunction :=", "FUNCTION_PKG_PreTrafficHook :="}},
		{true, edit{"a library, not a command", "FUNCTION_PKG_LabelIndexerFunction := ./functions/label-indexer", "FUNCTION_PKG_LabelIndexerFunction := ./internal/labelindex"}},
		{true, edit{"built for x86", "GOARCH=arm64 $(GO) build", "GOARCH=amd64 $(GO) build"}},
		{false, edit{"a function the Makefile does not know", "  LabelIndexerFunction:\n", "  LabelIndexFunction:\n"}},
		{false, edit{"not built by make", "      BuildMethod: makefile\n    Properties:\n      FunctionName: !Sub CodeDeployHook", "      BuildMethod: go1.x\n    Properties:\n      FunctionName: !Sub CodeDeployHook"}},
	} {
		m, tpl := makefile, template
		if e.makefile {
			m = e.apply(t, m)
		} else {
			tpl = e.apply(t, tpl)
		}
		if len(checkBuilds(t, m, tpl)) == 0 {
			t.Errorf("a copy with %q passes the check", e.name)
		}
	}
	// A logical id the Makefile does not know stops make, rather than building something else.
	cmd := exec.Command("make", "--no-print-directory", "build-NoSuchFunction", "ARTIFACTS_DIR="+t.TempDir())
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no function NoSuchFunction") {
		t.Errorf("make build-NoSuchFunction: err %v, output:\n%s", err, out)
	}
}

// TestMakeHelpShowsValues: make help prints the Makefile's `## ` lines with
// their variables filled in, never a literal $(NAME).
func TestMakeHelpShowsValues(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "--no-print-directory", "help")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "$(") {
			t.Errorf("make help prints a variable's name, not its value: %s", strings.TrimSpace(line))
		}
	}
	if !strings.Contains(string(out), "bin/arm64/bootstrap") {
		t.Errorf("make help does not show the build's path:\n%s", out)
	}
}
