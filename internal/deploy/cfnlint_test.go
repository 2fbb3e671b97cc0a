package deploy_test

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCfnLint runs cfn-lint on both stacks, when the machine has it, for what the checks above do
// not cover: the SAM transform itself and every property against the resource specs.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed (pip install cfn-lint)")
	}
	for _, f := range []string{"template.yaml", "account.yaml"} {
		out, err := exec.Command(bin, filepath.Join(repoRoot(t), f)).CombinedOutput()
		if err != nil {
			t.Errorf("cfn-lint %s: %v\n%s", f, err, out)
		}
	}
}
