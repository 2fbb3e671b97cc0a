package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/repo"
)

// The languages of the blocks a reader runs; each such block of README.md and
// docs/*.md carries <!-- run: NAME --> or <!-- no-run: why --> on the lines
// just above it.
var docsInterpreters = map[string]string{"sh": "bash", "bash": "bash", "python": "python3", "js": "node"}

// docsRun is one runnable example: the blocks of one file marked with the
// same name, in order, as a reader pastes them into one shell or one file.
type docsRun struct {
	file, name, lang string
	line             int // of the first block
	code             strings.Builder
}

// docsRuns reads the runnable examples of the documentation, and reports a
// shell, Python or Node.js block with neither marker.
func docsRuns(t *testing.T, root string) []*docsRun {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var runs []*docsRun
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]*docsRun{}
		var marker string // run: NAME or no-run: why, of the next block
		var cur *docsRun  // the block being read, nil outside a runnable one
		inBlock := false
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			switch {
			case inBlock && line == "```":
				inBlock, cur = false, nil
			case inBlock:
				if cur != nil {
					cur.code.WriteString(line + "\n")
				}
			case strings.HasPrefix(line, "```"):
				inBlock = true
				lang := strings.TrimPrefix(line, "```")
				if _, ok := docsInterpreters[lang]; !ok {
					break
				}
				name, ok := strings.CutPrefix(marker, "run: ")
				switch {
				case ok:
					r := byName[name]
					if r == nil {
						r = &docsRun{file: rel, name: name, lang: lang, line: n}
						byName[name] = r
						runs = append(runs, r)
					}
					if r.lang != lang {
						t.Errorf("%s:%d: run %q mixes %s and %s", rel, n, name, r.lang, lang)
					}
					cur = r
				case !strings.HasPrefix(marker, "no-run: "):
					t.Errorf("%s:%d: a %s block without <!-- run: NAME --> or <!-- no-run: why --> above it", rel, n, lang)
				}
				marker = ""
			case strings.HasPrefix(line, "<!-- ") && strings.HasSuffix(line, " -->"):
				if m := strings.TrimSuffix(strings.TrimPrefix(line, "<!-- "), " -->"); strings.HasPrefix(m, "run: ") || strings.HasPrefix(m, "no-run: ") {
					marker = m
				}
			default:
				marker = ""
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return runs
}

// statusRecorder is a reverse proxy to the API that keeps the status of every
// response, so a test sees what an example got whatever it prints.
type statusRecorder struct {
	mu       sync.Mutex
	statuses []int
}

func (s *statusRecorder) take() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.statuses
	s.statuses = nil
	return out
}

// Every shell, Python and Node.js example of README.md and docs/*.md that is
// marked to run does, as written, against this binary's local stack: in the
// repository's root, with the variables the banner of make run exports (the
// API's http://localhost:3000 stands for this stack's address), the demo data
// around today. Each must exit 0 having sent at least one request, and every
// request must get a 200.
func TestDocsExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vipctl and runs bash, python3 and node")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	runs := docsRuns(t, root)
	if t.Failed() {
		return
	}
	proxy, rec, env := docsStack(t, root)

	want := []string{"README.md:quickstart", "docs/api.md:vipctl", "docs/signing.md:sh", "docs/signing.md:python", "docs/signing.md:node"}
	var got []string
	for _, r := range runs {
		got = append(got, r.file+":"+r.name)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("no runnable example %s (found %v)", w, got)
		}
	}

	for _, r := range runs {
		t.Run(r.file+":"+r.name, func(t *testing.T) {
			interp := docsInterpreters[r.lang]
			if _, err := exec.LookPath(interp); err != nil {
				t.Skipf("%s is not installed: the %s example at %s:%d is not run here", interp, r.lang, r.file, r.line)
			}
			code := strings.ReplaceAll(r.code.String(), "http://localhost:3000", proxy.URL)
			script := filepath.Join(t.TempDir(), "example."+map[string]string{"bash": "sh", "python3": "py", "node": "js"}[interp])
			if err := os.WriteFile(script, []byte(code), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{script}
			if interp == "bash" {
				// As pasted into a shell, but stopping at the first failing command.
				args = []string{"-e", "-o", "pipefail", script}
			}
			rec.run(t, exec.CommandContext(t.Context(), interp, args...), root, env,
				fmt.Sprintf("%s:%d (%s)\n%s", r.file, r.line, interp, code))
		})
	}
}

// docsStack is this binary's stack behind a proxy that records statuses, and
// the environment of a reader's terminal: the banner's exports pointing at the
// proxy, and vipctl on the PATH, as after the quick start's go install (which
// goes there too, GOBIN, rather than into the machine's GOPATH).
func docsStack(t *testing.T, root string) (*httptest.Server, *statusRecorder, []string) {
	t.Helper()
	target, err := url.Parse(stack(t).url)
	if err != nil {
		t.Fatal(err)
	}
	rec := &statusRecorder{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		rec.mu.Lock()
		rec.statuses = append(rec.statuses, r.StatusCode)
		rec.mu.Unlock()
		return nil
	}
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)

	bin := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/vipctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build vipctl: %v\n%s", err, out)
	}
	env := append(os.Environ(),
		"VIP_API_URL="+proxy.URL, "VIP_API_KEY="+devstack.DemoKeyID, "VIP_API_SECRET="+devstack.DemoSecret,
		"GOBIN="+bin, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	return proxy, rec, env
}

// run runs cmd with env in root and fails the test unless it exits 0 having
// sent at least one request, every one answered 200.
func (rec *statusRecorder) run(t *testing.T, cmd *exec.Cmd, root string, env []string, what string) {
	t.Helper()
	cmd.Dir, cmd.Env = root, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	rec.take()
	err := cmd.Run()
	statuses := rec.take()
	report := fmt.Sprintf("%s\nstdout:\n%s\nstderr:\n%s", what, stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("%v: %s", err, report)
	}
	if len(statuses) == 0 {
		t.Fatalf("no request reached the API: %s", report)
	}
	for _, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("statuses %v, want 200: %s", statuses, report)
		}
	}
}

// The banner of make run prints a version-2 request, with vipctl and with
// curl, that takes the secret from the environment its export line sets; both
// run as printed.
func TestBannerRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go run ./cmd/vipctl")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	proxy, rec, env := docsStack(t, root)
	var banner bytes.Buffer
	printReady(&banner, stack(t).Stack, strings.TrimPrefix(proxy.URL, "http://"))
	if strings.Contains(banner.String(), "--secret") || strings.Contains(banner.String(), "openssl") {
		t.Errorf("the banner signs on the command line:\n%s", banner.String())
	}
	var export string
	var requests []string
	for _, line := range strings.Split(banner.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "export VIP_API_URL="):
			export = line
		case strings.Contains(line, "vipctl messages list"):
			requests = append(requests, line)
		case strings.HasPrefix(line, "or with curl: "):
			requests = append(requests, strings.TrimPrefix(line, "or with curl: "))
		}
	}
	if export == "" || len(requests) != 2 {
		t.Fatalf("the banner has no export line, or not the vipctl and curl requests:\n%s", banner.String())
	}
	for _, req := range requests {
		// The export line sets the secret; nothing else in this environment does.
		clean := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "VIP_API_") })
		rec.run(t, exec.CommandContext(t.Context(), "bash", "-e", "-o", "pipefail", "-c", export+"\n"+req), root, clean, banner.String())
	}
}

// The README's test vectors are the ones internal/signature's tests check.
func TestReadmeVectors(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "internal", "signature", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct{ Name, Canonical, Signature string }
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vectors {
		row := "| `" + v.Canonical + "` | `" + v.Signature + "` |"
		if !bytes.Contains(readme, []byte(row)) {
			t.Errorf("README.md has no row ending %s (vector %q)", row, v.Name)
		}
	}
}
