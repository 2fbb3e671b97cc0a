package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
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

// TestCfnLint runs cfn-lint on both stacks, when the machine has it, for what the checks above do
// not cover: the SAM transform itself and every property against the resource specs.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		missingTool(t, "cfn-lint")
	}
	for _, f := range []string{"template.yaml", "account.yaml"} {
		out, err := exec.Command(bin, filepath.Join(repoRoot(t), f)).CombinedOutput()
		if err != nil {
			t.Errorf("cfn-lint %s: %v\n%s", f, err, out)
		}
	}
}
