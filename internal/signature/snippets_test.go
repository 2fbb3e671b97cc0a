package signature

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// snippetCases are the vectors and the encoding edge cases the signers of
// docs/signing.md must agree on with this package. Values hold no newline: the shell
// snippet reads one name=value per line.
func snippetCases(t *testing.T) []Vector {
	cases := loadVectors(t)
	const secret, date = "s3cret ünïcode", "2026-06-01T12:00:00.123+02:00"
	for _, q := range []map[string][]string{
		nil,
		{"label": {"a b", "a+b", "a%20b", "100%", "=", "a=b=", "&", "é€😀", "~-._", "!'()*", ""}},
		{"b": {"2"}, "a": {"1"}, "a b": {"x"}, "A": {"y"}, "a-b": {"z"}},
		{"before": {"v1.MTc4MDMxNTIwMDEyMyNtc2ctMDAwMDAx"}, "from": {"2026-05-01T00:00:00.5-03:30"}},
		{" lead": {"trail "}, "tab\there": {"\x01"}},
	} {
		cases = append(cases, Vector{Name: fmt.Sprint(q), Secret: secret, Date: date, Query: q,
			Canonical: Canonical(q), Signature: SignV2(secret, date, q)})
	}
	return cases
}

// snippet extracts the code block that follows <!-- snippet: name --> in
// docs/signing.md.
func snippet(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "signing.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- snippet: " + regexp.QuoteMeta(name) + " -->\n```[a-z]*\n(.*?)\n```")
	m := re.FindSubmatch(raw)
	if m == nil {
		t.Fatalf("docs/signing.md has no snippet %q", name)
	}
	return string(m[1])
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the snippet of docs/signing.md is not checked here", tool)
		}
	}
}

type pair [2]string

func pairs(q map[string][]string) []pair {
	out := []pair{}
	for n, vs := range q {
		for _, v := range vs {
			out = append(out, pair{n, v})
		}
	}
	return out
}

// check compares the snippet's canonical query and signature, two lines per
// case, with this package's.
func check(t *testing.T, cases []Vector, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2*len(cases) {
		t.Fatalf("snippet printed %d lines for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		if lines[2*i] != c.Canonical || lines[2*i+1] != c.Signature {
			t.Errorf("%s:\nsnippet  %s\n         %s\nGo       %s\n         %s", c.Name, lines[2*i], lines[2*i+1], c.Canonical, c.Signature)
		}
	}
}

func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	return string(out)
}

func TestReadmeSnippetShell(t *testing.T) {
	need(t, "bash", "openssl", "od", "sort", "paste")
	cases := snippetCases(t)
	var script strings.Builder
	script.WriteString(snippet(t, "v2-sh") + "\n")
	dir := t.TempDir()
	for i, c := range cases {
		var lines strings.Builder
		for _, p := range pairs(c.Query) {
			fmt.Fprintf(&lines, "%s=%s\n", p[0], p[1])
		}
		in := filepath.Join(dir, fmt.Sprintf("case%d", i))
		if err := os.WriteFile(in, []byte(lines.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "Q=$(canonical_query < %q); printf '%%s\\n' \"$Q\"; sign_v2 %q %q \"$Q\"; echo\n", in, c.Secret, c.Date)
	}
	check(t, cases, run(t, exec.Command("bash", "-c", script.String())))
}

func jsonCases(t *testing.T, cases []Vector) []byte {
	type jc struct {
		Secret string `json:"secret"`
		Date   string `json:"date"`
		Pairs  []pair `json:"pairs"`
	}
	var in []jc
	for _, c := range cases {
		in = append(in, jc{c.Secret, c.Date, pairs(c.Query)})
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadmeSnippetPython(t *testing.T) {
	need(t, "python3")
	cases := snippetCases(t)
	prog := snippet(t, "v2-python") + `
import json, sys
for c in json.load(sys.stdin):
    params = [tuple(p) for p in c["pairs"]]
    print(canonical_query(params))
    print(sign_v2(c["secret"], c["date"], params))
`
	cmd := exec.Command("python3", "-c", prog)
	cmd.Stdin = bytes.NewReader(jsonCases(t, cases))
	check(t, cases, run(t, cmd))
}

func TestReadmeSnippetNode(t *testing.T) {
	need(t, "node")
	cases := snippetCases(t)
	prog := snippet(t, "v2-node") + `
let input = "";
process.stdin.on("data", (d) => (input += d)).on("end", () => {
  for (const c of JSON.parse(input)) {
    console.log(canonicalQuery(c.pairs));
    console.log(signV2(c.secret, c.date, c.pairs));
  }
});
`
	cmd := exec.Command("node", "-e", prog)
	cmd.Stdin = bytes.NewReader(jsonCases(t, cases))
	check(t, cases, run(t, cmd))
}
