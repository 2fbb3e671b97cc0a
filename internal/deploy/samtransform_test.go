package deploy_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// samTransform runs SAM's transform (samtranslator, which cfn-lint bundles) on
// template.yaml for one stage; the test skips where it is not installed.
func samTransform(t *testing.T, stage string) obj {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		missingTool(t, "python3")
	}
	if err := exec.Command(py, "-c", "import samtranslator").Run(); err != nil {
		missingTool(t, "samtranslator (aws-sam-translator)")
	}
	cmd := exec.Command(py, filepath.Join("testdata", "sam_transform.py"), filepath.Join(repoRoot(t), "template.yaml"), "Stage="+stage)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("SAM transform of template.yaml (Stage=%s): %v\n%s", stage, err, msg)
	}
	var cfn obj
	if err := json.Unmarshal(out, &cfn); err != nil {
		t.Fatal(err)
	}
	return cfn
}

// checkTransformed checks what CloudFormation gets after SAM's transform: the
// route's integration invokes the alias, and the alias is updated by CodeDeploy
// with the stage's deployment type, the rollback alarms and the pre-traffic hook.
func checkTransformed(cfn obj, stage string) []string {
	var problems []string
	var aliasID string
	for _, id := range resourcesOfType(cfn, "AWS::Lambda::Alias") {
		if isRef(get(cfn, "Resources", id, "Properties", "FunctionName"), functionID) {
			aliasID = id
		}
	}
	if aliasID == "" {
		return []string{"no AWS::Lambda::Alias of " + functionID}
	}
	uri := str(get(cfn, "Resources", apiID, "Properties", "Body", "paths", "/vip-messages", "get", "x-amazon-apigateway-integration", "uri", "Fn::Sub"))
	if !strings.Contains(uri, "${"+aliasID+"}") {
		problems = append(problems, fmt.Sprintf("GET /vip-messages integrates %q, want the alias ${%s}", uri, aliasID))
	}
	upd := get(cfn, "Resources", aliasID, "UpdatePolicy", "CodeDeployLambdaAliasUpdate")
	if !isRef(get(upd, "BeforeAllowTrafficHook"), hookID) {
		problems = append(problems, fmt.Sprintf("alias update hook is %v, want Ref %s", get(upd, "BeforeAllowTrafficHook"), hookID))
	}
	group := str(get(upd, "DeploymentGroupName", "Ref"))
	g := get(cfn, "Resources", group, "Properties")
	cfgName := fmt.Sprint(get(g, "DeploymentConfigName"))
	if l := asList(get(g, "DeploymentConfigName", "Fn::Sub")); len(l) == 2 {
		cfgName = strings.ReplaceAll(str(l[0]), "${ConfigName}", str(get(l[1], "ConfigName")))
	}
	if want := wantDeployment[stage]; !want.MatchString(strings.TrimPrefix(cfgName, "CodeDeployDefault.Lambda")) {
		problems = append(problems, fmt.Sprintf("deployment group %s uses %s, want %v", group, cfgName, want))
	}
	var alarms []string
	for _, a := range asList(get(g, "AlarmConfiguration", "Alarms")) {
		alarms = append(alarms, str(get(a, "Name", "Ref")))
	}
	for _, id := range rollbackAlarms {
		if !slices.Contains(alarms, id) {
			problems = append(problems, fmt.Sprintf("deployment group alarms %v lack %s", alarms, id))
		}
	}
	if get(g, "AlarmConfiguration", "Enabled") != true || !slices.Contains(asList(get(g, "AutoRollbackConfiguration", "Events")), any("DEPLOYMENT_STOP_ON_ALARM")) {
		problems = append(problems, "the deployment group does not roll back on alarm")
	}
	// The indexer has no alias: its stream mapping invokes the function itself.
	for _, id := range resourcesOfType(cfn, "AWS::Lambda::Alias") {
		if isRef(get(cfn, "Resources", id, "Properties", "FunctionName"), indexerID) {
			problems = append(problems, "the label indexer has an alias "+id)
		}
	}
	return problems
}

func TestSAMTransform(t *testing.T) {
	for _, stage := range []string{"dev", "staging", "prod"} {
		t.Run(stage, func(t *testing.T) {
			cfn := samTransform(t, stage)
			for _, p := range checkTransformed(cfn, stage) {
				t.Errorf("transformed template: %s", p)
			}
			// Broken copies of the output.
			for _, m := range []mutation{
				{"integration on the function", func(c obj) {
					setPath(c, obj{"Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${VipMessagesFunction.Arn}/invocations"},
						"Resources", apiID, "Properties", "Body", "paths", "/vip-messages", "get", "x-amazon-apigateway-integration", "uri")
				}},
				{"no rollback on alarm", func(c obj) {
					for _, id := range resourcesOfType(c, "AWS::CodeDeploy::DeploymentGroup") {
						setPath(c, obj{"Enabled": true, "Events": []any{"DEPLOYMENT_FAILURE"}}, "Resources", id, "Properties", "AutoRollbackConfiguration")
					}
				}},
			} {
				broken := deepCopy(cfn).(obj)
				m.apply(broken)
				if len(checkTransformed(broken, stage)) == 0 {
					t.Errorf("a transformed template with %q passes the check", m.name)
				}
			}
		})
	}
}
