package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The pinned versions of the Python tools the tests run; the pipeline installs
// exactly these (.github/workflows/pipeline.yml).
const pipInstall = "pip install cfn-lint==1.51.0 aws-sam-translator==1.110.0"

// missingTool skips the test where a tool is not installed, naming the install
// command; with VIP_REQUIRE_TOOLS set (the pipeline sets it) it fails instead,
// so CI cannot pass without running the check.
func missingTool(t *testing.T, what string) {
	t.Helper()
	msg := what + " is not installed (" + pipInstall + ")"
	if os.Getenv("VIP_REQUIRE_TOOLS") != "" {
		t.Fatal(msg + ", and VIP_REQUIRE_TOOLS is set")
	}
	t.Skip(msg)
}

// TestPipelineRequiresTheTools: the pipeline installs these versions and turns
// a skip for a missing tool into a failure, so that CI really runs the tools.
func TestPipelineRequiresTheTools(t *testing.T) {
	t.Parallel()
	wf := readFile(t, filepath.Join(".github", "workflows", "pipeline.yml"))
	for _, want := range []string{strings.TrimPrefix(pipInstall, "pip install "), strings.TrimPrefix(motoInstall, "pip install "), `VIP_REQUIRE_TOOLS: "1"`, "run: make deploy-check"} {
		if !strings.Contains(wf, want) {
			t.Errorf("pipeline.yml lacks %q", want)
		}
	}
}

// TestCfnLint lints both stacks against CloudFormation's resource specs, the
// SAM transform included: everything in the templates the other tests leave out.
func TestCfnLint(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		missingTool(t, "cfn-lint")
	}
	root := repoRoot(t)
	out, err := exec.Command(bin, filepath.Join(root, "template.yaml"), filepath.Join(root, "account.yaml")).CombinedOutput()
	if err != nil {
		t.Errorf("cfn-lint: %v\n%s", err, out)
	}
}

// samTransform runs SAM's transform on template.yaml with every stage's
// parameters (samconfig.toml) and returns what CloudFormation gets, by stage.
func samTransform(t *testing.T) map[string]obj {
	t.Helper()
	all, err := stacks(repoFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]map[string]string{}
	for _, s := range all {
		params[s.stage] = s.params
	}
	return transformWith(t, params)
}

// transformWith runs SAM's transform on template.yaml once per entry of params
// (any name -> parameter values) and returns the results by the same names.
func transformWith(t *testing.T, params map[string]map[string]string) map[string]obj {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		missingTool(t, "python3")
	}
	if err := exec.Command(py, "-c", "import samtranslator").Run(); err != nil {
		missingTool(t, "samtranslator (aws-sam-translator)")
	}
	in, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("testdata", "sam_transform.py"), filepath.Join(repoRoot(t), "template.yaml"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("SAM transform of template.yaml: %v\n%s", err, stderr.Bytes())
	}
	var cfn map[string]obj
	if err := json.Unmarshal(out, &cfn); err != nil {
		t.Fatal(err)
	}
	return cfn
}

// TestSAMTransform: SAM's transform accepts the template with every stage's
// parameters (it rejects, say, an API event on an API the template lacks), and
// gives CloudFormation the functions and the REST API.
func TestSAMTransform(t *testing.T) {
	t.Parallel()
	for stage, cfn := range samTransform(t) {
		if len(ofType(cfn, "AWS::Lambda::Function")) == 0 || len(ofType(cfn, "AWS::ApiGateway::RestApi")) == 0 {
			t.Errorf("%s: the transformed template has no function or no REST API", stage)
		}
	}
}
