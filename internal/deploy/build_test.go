package deploy_test

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// checkBootstrap checks that a file is what provided.al2023 on arm64 runs: a 64-bit
// static arm64 Linux executable, built from the function with the Makefile's flags.
func checkBootstrap(path string) []string {
	return checkBootstrapOf(path, "vip-messages")
}

// checkBootstrapOf is checkBootstrap for the function built from ./functions/<fn>.
func checkBootstrapOf(path, fn string) []string {
	f, err := elf.Open(path)
	if err != nil {
		return []string{fmt.Sprintf("%s is not an ELF file: %v", path, err)}
	}
	defer f.Close()
	var problems []string
	if f.Machine != elf.EM_AARCH64 {
		problems = append(problems, fmt.Sprintf("machine is %v, want EM_AARCH64", f.Machine))
	}
	if f.Class != elf.ELFCLASS64 {
		problems = append(problems, fmt.Sprintf("class is %v, want ELFCLASS64", f.Class))
	}
	if f.Type != elf.ET_EXEC {
		problems = append(problems, fmt.Sprintf("type is %v, want ET_EXEC", f.Type))
	}
	// A dynamic loader request means cgo crept in; the runtime image has no Go libc promise.
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			problems = append(problems, "binary is dynamically linked (PT_INTERP), want CGO_ENABLED=0")
		}
	}
	// -ldflags '-s -w' is not recorded under -trimpath; its effect is: no symbols, no DWARF.
	for _, sec := range f.Sections {
		if sec.Name == ".symtab" || strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
			problems = append(problems, fmt.Sprintf("binary has section %s, want -ldflags '-s -w'", sec.Name))
			break
		}
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return append(problems, fmt.Sprintf("no Go build info: %v", err))
	}
	if info.Path != "github.com/vip-messages/api/functions/"+fn {
		problems = append(problems, fmt.Sprintf("built from %s, want ./functions/%s", info.Path, fn))
	}
	want := map[string]string{
		"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0",
		"-tags": "lambda.norpc", "-trimpath": "true",
	}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	for k, v := range want {
		if got[k] != v {
			problems = append(problems, fmt.Sprintf("build setting %s is %q, want %q", k, got[k], v))
		}
	}
	return problems
}

// TestMakeBuild runs `make build` as a developer would and checks the bootstrap it
// writes. It builds the real ./functions/vip-messages, once.
func TestMakeBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the function; skipped in -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	out := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "-C", repoRoot(t), "build", "BIN_DIR="+out)
	// The target sets GOOS/GOARCH itself; a developer's environment must not leak in.
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, b)
	}
	for _, p := range checkBootstrap(filepath.Join(out, "bootstrap")) {
		t.Errorf("bootstrap: %s", p)
	}
	// The label indexer, beside it (sam build runs build-LabelIndexerFunction).
	for _, p := range checkBootstrapOf(filepath.Join(out, "label-indexer", "bootstrap"), "label-indexer") {
		t.Errorf("label-indexer/bootstrap: %s", p)
	}
	for _, p := range checkBootstrapOf(filepath.Join(out, "pre-traffic", "bootstrap"), "pre-traffic") {
		t.Errorf("pre-traffic/bootstrap: %s", p)
	}
}

// TestCheckBootstrapRejects proves the checks can fail: this test binary was built
// without the Lambda flags, and is not a function bootstrap.
func TestCheckBootstrapRejects(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	notELF := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{self, notELF} {
		if len(checkBootstrap(path)) == 0 {
			t.Errorf("checkBootstrap(%s) found nothing wrong", path)
		}
	}
}

// docTargetRE finds a target's doc line in the Makefile: `## name: what it does`.
var docTargetRE = regexp.MustCompile(`(?m)^## ([A-Za-z0-9_%<>-]+):`)

// checkHelp reports the documented targets that `make help` output does not list.
func checkHelp(makefile, help string) []string {
	var problems []string
	listed := map[string]bool{}
	for _, line := range strings.Split(help, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			listed[f[0]] = true
		}
	}
	docs := docTargetRE.FindAllStringSubmatch(makefile, -1)
	if len(docs) == 0 {
		problems = append(problems, "the Makefile has no `## target:` doc lines")
	}
	for _, m := range docs {
		if !listed[m[1]] {
			problems = append(problems, fmt.Sprintf("make help does not list %s", m[1]))
		}
	}
	return problems
}

// TestMakeHelp runs `make help` and checks that it lists every documented target;
// the check itself must fail on help output that misses one.
func TestMakeHelp(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("make", "--no-print-directory", "-s", "-C", repoRoot(t), "help").CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for _, p := range checkHelp(string(raw), string(out)) {
		t.Error(p)
	}
	// Broken: help output without its first target.
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if len(checkHelp(string(raw), strings.Replace(string(out), first, "", 1))) == 0 {
		t.Error("checkHelp accepts help output that lacks a target")
	}
}

// TestMakeBuildUnknownFunction: sam build names a logical id; one the Makefile does not
// map to a package must stop with a message, not build something else.
func TestMakeBuildUnknownFunction(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "--no-print-directory", "-C", repoRoot(t), "build-NoSuchFunction", "ARTIFACTS_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no function NoSuchFunction") {
		t.Errorf("make build-NoSuchFunction: err %v, output:\n%s", err, out)
	}
}
