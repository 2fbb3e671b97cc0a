package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPreflight runs scripts/preflight against a fake sam and a fake aws on PATH
// (testdata/fakebin): each failing condition stops the deploy with its message,
// and a clean account proceeds.
func TestPreflight(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	root := repoRoot(t)
	fakebin, err := filepath.Abs(filepath.Join("testdata", "fakebin"))
	if err != nil {
		t.Fatal(err)
	}
	samconfig, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// prod with an alarm address, as a team sets it before its first prod deploy.
	prodReady := filepath.Join(t.TempDir(), "samconfig.toml")
	if err := os.WriteFile(prodReady, []byte(strings.Replace(string(samconfig), `AlarmEmail=\"\"`, `AlarmEmail=\"oncall@example.com\"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// prod with an alarm address and a pager topic.
	prodPager := filepath.Join(t.TempDir(), "samconfig.toml")
	if err := os.WriteFile(prodPager, []byte(strings.Replace(string(samconfig), `AlarmEmail=\"\" AlarmTopicArn=\"\"`,
		`AlarmEmail=\"oncall@example.com\" AlarmTopicArn=\"arn:aws:sns:us-east-1:123456789012:pager\"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	clean := map[string]string{
		"FAKE_SAM_VERSION": "1.164.0", "FAKE_ACCOUNT": "123456789012",
		"FAKE_APIGW_ROLE":   "arn:aws:iam::123456789012:role/vip-messages-account-ApiGatewayCloudWatchRole-X",
		"FAKE_STACK_STATUS": "UPDATE_COMPLETE", "FAKE_TABLE": "yes", "FAKE_CONCURRENCY": "1000 1000",
		"FAKE_SUBSCRIPTION": "arn:aws:sns:us-east-1:123456789012:vip-messages-prod-alarms:0b1c",
	}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range clean {
			env[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	for _, tc := range []struct {
		name      string
		stage     string
		samconfig string
		env       map[string]string
		ok        bool
		want      string
	}{
		{"clean account, existing stack", "dev", "", clean, true, "to account 123456789012, region us-east-1"},
		{"first deploy: no stack, no table", "staging", "", with("FAKE_STACK_STATUS", "", "FAKE_TABLE", "no"), true, "preflight: ok"},
		{"minimum SAM CLI", "dev", "", with("FAKE_SAM_VERSION", "1.104.0"), true, "preflight: ok"},
		{"prod with an alarm address", "prod", prodReady, clean, true, "stage prod (stack vip-messages-prod)"},
		{"old SAM CLI", "dev", "", with("FAKE_SAM_VERSION", "1.99.0"), false, "SAM CLI 1.99.0 is older than 1.104.0"},
		{"SAM CLI that crashes on Fn::If in DeletionPolicy", "dev", "", with("FAKE_SAM_VERSION", "1.55.0"), false, "older than 1.104.0"},
		{"no credentials", "dev", "", with("FAKE_ACCOUNT", ""), false, "no AWS credentials"},
		{"no API Gateway CloudWatch role", "dev", "", with("FAKE_APIGW_ROLE", "None"), false, "run 'make bootstrap'"},
		{"orphaned table", "prod", prodReady, with("FAKE_STACK_STATUS", ""), false, "orphaned table"},
		{"failed first create", "prod", prodReady, with("FAKE_STACK_STATUS", "ROLLBACK_COMPLETE"), false,
			"aws cloudformation delete-stack --region us-east-1 --stack-name vip-messages-prod --role-arn arn:aws:iam::123456789012:role/vip-messages-cfn-prod-us-east-1"},
		{"rollback that failed", "dev", "", with("FAKE_STACK_STATUS", "UPDATE_ROLLBACK_FAILED"), false,
			"aws cloudformation continue-update-rollback --region us-east-1 --stack-name vip-messages-dev --role-arn arn:aws:iam::123456789012:role/vip-messages-cfn-dev-us-east-1"},
		{"a new account's concurrency", "prod", prodReady, with("FAKE_CONCURRENCY", "10 10"), false,
			"stage prod needs 400 (ThrottlingBurstLimit 200 x 2 function(s) per request + ProvisionedConcurrency 0): request more, then run this again: aws service-quotas request-service-quota-increase --region us-east-1 --service-code lambda --quota-code L-B99A9384 --desired-value 400"},
		{"concurrency reserved by other functions", "prod", prodReady, with("FAKE_CONCURRENCY", "1000 150"), false, "--desired-value 1250"},
		{"just enough concurrency", "staging", "", with("FAKE_CONCURRENCY", "100 100"), true, "preflight: ok"},
		{"prod's alarm mail unconfirmed", "prod", prodReady, with("FAKE_SUBSCRIPTION", "PendingConfirmation"), false,
			"is pending confirmation: follow the link in the mail AWS sent, or send it again: aws sns subscribe --region us-east-1 --topic-arn arn:aws:sns:us-east-1:123456789012:vip-messages-prod-alarms --protocol email --notification-endpoint oncall@example.com"},
		{"prod's alarm mail expired", "prod", prodReady, with("FAKE_SUBSCRIPTION", ""), false, "is missing (expired unconfirmed?)"},
		{"prod's alarm mail unconfirmed, a pager set", "prod", prodPager, with("FAKE_SUBSCRIPTION", "PendingConfirmation"), true, "warning: prod's alarm mail to oncall@example.com is pending confirmation"},
		{"prod's first deploy", "prod", prodReady, with("FAKE_STACK_STATUS", "", "FAKE_TABLE", "no", "FAKE_SUBSCRIPTION", ""), true, "preflight: ok"},
		{"deploy in progress", "dev", "", with("FAKE_STACK_STATUS", "UPDATE_IN_PROGRESS"), false, "wait for it to finish"},
		{"prod alarms to nobody", "prod", "", clean, false, "prod alarms would notify nobody"},
		{"unknown stage", "qa", "", clean, false, "usage: scripts/preflight dev|staging|prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "aws.log")
			cmd := exec.Command(bash, filepath.Join(root, "scripts", "preflight"), tc.stage)
			cmd.Dir = root
			cmd.Env = []string{"PATH=" + fakebin + ":/usr/bin:/bin", "HOME=" + t.TempDir(), "FAKE_LOG=" + log}
			if tc.samconfig != "" {
				cmd.Env = append(cmd.Env, "SAMCONFIG="+tc.samconfig)
			}
			for k, v := range tc.env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if ok := err == nil; ok != tc.ok {
				t.Fatalf("preflight %s: err %v, want ok=%v\n%s", tc.stage, err, tc.ok, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			// Every AWS call names the stage's region.
			calls, _ := os.ReadFile(log)
			for _, c := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
				if c != "" && !strings.HasPrefix(c, "sts ") && !strings.Contains(c, "--region us-east-1") {
					t.Errorf("aws %s: no --region", c)
				}
			}
		})
	}
}

// TestPreflightTableName: the preflight looks for the table by the name the
// template gives it.
func TestPreflightTableName(t *testing.T) {
	t.Parallel()
	script := readFile(t, filepath.Join("scripts", "preflight"))
	if !strings.Contains(script, `table="vip-messages-$stage"`) {
		t.Fatal(`scripts/preflight names the table otherwise than table="vip-messages-$stage"`)
	}
	checkFiles(t, forEachStage(func(s stack) []string {
		if name := s.resource(tableID)["TableName"]; name != "vip-messages-"+s.stage {
			return []string{fmt.Sprintf("the table is %v, scripts/preflight looks for vip-messages-%s", name, s.stage)}
		}
		return nil
	}), []edit{{"table renamed", "TableName: !Sub vip-messages-${Stage}", "TableName: !Sub vip-messages-table-${Stage}"}})
}

// deployOrder checks the commands `make -n deploy` prints: the preflight, then
// sam build, then sam deploy, each once and for the stage asked.
func deployOrder(out, stage string) []string {
	want := []string{"scripts/preflight " + stage, "sam build --config-env " + stage, "sam deploy --config-env " + stage}
	var got []string
	for _, line := range strings.Split(out, "\n") {
		for _, w := range want {
			if strings.HasPrefix(strings.TrimSpace(line), w) {
				got = append(got, w)
			}
		}
	}
	if !slices.Equal(got, want) {
		return []string{fmt.Sprintf("make deploy STAGE=%s runs %v, want %v in this order", stage, got, want)}
	}
	return nil
}

// TestMakeDeployRunsPreflightFirst: nothing is built or uploaded before the preflight passed.
func TestMakeDeployRunsPreflightFirst(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	out, err := exec.Command("make", "--no-print-directory", "-n", "-C", repoRoot(t), "deploy", "STAGE=prod").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n deploy: %v\n%s", err, out)
	}
	for _, p := range deployOrder(string(out), "prod") {
		t.Error(p)
	}
	swapped := strings.Replace(string(out), "scripts/preflight prod\n", "", 1) + "scripts/preflight prod\n"
	if len(deployOrder(swapped, "prod")) == 0 {
		t.Error("deployOrder accepts a preflight after the build")
	}
	if len(deployOrder(string(out), "dev")) == 0 {
		t.Error("deployOrder accepts another stage's commands")
	}
}

// TestPreflightAgreesWithTheTemplates: the names and numbers scripts/preflight
// works with are the templates' own: the alarm topic, the stage's
// CloudFormation execution role, the default burst, and the functions a
// request runs (the route's function and the API's Lambda authorizer, if any).
func TestPreflightAgreesWithTheTemplates(t *testing.T) {
	t.Parallel()
	script := readFile(t, filepath.Join("scripts", "preflight"))
	tpl, err := parseYAML(readFile(t, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	perRequest := 1
	for _, api := range ofType(tpl, "AWS::Serverless::Api") {
		if str(get(tpl, "Resources", api, "Properties", "Auth", "DefaultAuthorizer")) != "" {
			perRequest++
		}
	}
	for _, c := range []struct{ file, in, script string }{
		{"template.yaml", "TopicName: !Sub vip-messages-${Stage}-alarms", `topic="vip-messages-$stage-alarms"`},
		{"account.yaml", "RoleName: !Sub vip-messages-cfn-${Stage}-${AWS::Region}", `role/vip-messages-cfn-$stage-$region"`},
		{"template.yaml", "", fmt.Sprintf("burst=${burst:-%v}", get(tpl, "Parameters", "ThrottlingBurstLimit", "Default"))},
		{"template.yaml", "", fmt.Sprintf("functions_per_request=%d\n", perRequest)},
	} {
		if c.in != "" && !strings.Contains(readFile(t, c.file), c.in) {
			t.Errorf("%s lacks %q, which scripts/preflight relies on", c.file, c.in)
		}
		if !strings.Contains(script, c.script) {
			t.Errorf("scripts/preflight lacks %q (from %s)", c.script, c.file)
		}
	}
}
