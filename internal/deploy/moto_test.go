package deploy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	apigwtypes "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/sampleevent"
	"github.com/vip-messages/api/internal/testkit/testproc"
)

// A deploy end to end against moto (`make deploy-check`, docs/deploying.md,
// "A deploy against moto"): moto is an implementation of the AWS APIs that
// nobody on this project wrote, so where it and the project disagree, one of
// them is wrong. The account stack and each stage's transformed template are
// created in moto's CloudFormation with the stage's samconfig.toml parameters
// and the built code in the account stack's artifact bucket; then vipctl works
// the keys of each stage by the names the stack created, and the built API
// function runs under aws-lambda-rie with the environment moto's Lambda holds
// for it, against moto's DynamoDB and Secrets Manager.

// The moto this check is written against; the pipeline installs it.
const motoInstall = `pip install "moto[server]==5.2.1"`

// motoStandIns create, through the service's own API, a resource type that
// moto's CloudFormation skips; what a stand-in does not apply is in its note.
var motoStandIns = map[string]struct {
	create func(context.Context, *motoStack, obj) (string, error)
	note   string
}{
	"AWS::ApiGateway::Stage":     {createStage, "CreateStage (name, deployment, tracing); MethodSettings and AccessLogSetting are gateway_test's and cfn-lint's"},
	"AWS::ApiGateway::UsagePlan": {createUsagePlan, "CreateUsagePlan (name, API stage, throttle, quota)"},
	"AWS::Lambda::Alias":         {createAlias, "CreateAlias (live on the published version); the traffic shifting is rollback_test's"},
	// moto's CloudFormation gives a version no physical id, and its Ref is no ARN
	// (the hook's TARGET_VERSION_ARN became an object that ListFunctions cannot
	// serialize: HTTP 500).
	"AWS::Lambda::Version": {createVersion, "PublishVersion with the template's Description (VersionDescription)"},
	// moto's CloudFormation looks the permission's function up, and here it is
	// the alias, a stand-in made after the stack.
	"AWS::Lambda::Permission": {createPermission, "AddPermission (API Gateway may invoke the live alias)"},
	// moto's CloudFormation makes a RestApi without its Body (the OpenAPI SAM
	// generates), and a deployment of an API without methods fails.
	"AWS::ApiGateway::Deployment": {createDeployment, "PutRestApi with the RestApi's Body (moto's CloudFormation ignores Body), then CreateDeployment"},
}

// motoCovered says which test covers a resource type moto's CloudFormation
// skips and no stand-in creates.
var motoCovered = map[string]string{
	"AWS::CloudWatch::Alarm":           "metrics_test (metrics the code emits), rollback_test (what rolls back)",
	"AWS::CodeDeploy::Application":     "rollback_test (the transformed deployment group)",
	"AWS::CodeDeploy::DeploymentGroup": "rollback_test (its alarms, hook and role)",
	"AWS::SNS::Subscription":           "scripts/preflight (prod's subscription confirmed), TestPreflight",
	"AWS::Lambda::EventSourceMapping":  "iam_test (its stream and the indexer's permissions); the label indexer runs on events/stream-*.json here",
	"AWS::ApiGateway::Account":         "scripts/preflight (the account's CloudWatch role), roles_test",
	"AWS::IAM::OIDCProvider":           "roles_test (the pipeline's trust policies)",
	"AWS::S3::BucketPolicy":            "roles_test (the artifact bucket's policy)",
}

// needMoto returns python3 once moto, its server and samtranslator import.
func needMoto(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		missingMoto(t, "python3")
	}
	out, err := exec.Command(py, "-c", "import moto, moto.server, samtranslator; print(moto.__version__)").CombinedOutput()
	if err != nil {
		missingMoto(t, "moto with its server, or samtranslator,")
	}
	if v := strings.TrimSpace(string(out)); v != "5.2.1" {
		t.Logf("moto %s, not the 5.2.1 this check is written against", v)
	}
	return py
}

func missingMoto(t *testing.T, what string) {
	t.Helper()
	msg := what + " is not installed (" + motoInstall + "; " + pipInstall + ")"
	if os.Getenv("VIP_REQUIRE_TOOLS") != "" {
		t.Fatal(msg + ", and VIP_REQUIRE_TOOLS is set")
	}
	t.Skip(msg)
}

// startMoto runs `python3 -m moto.server` on a free port until the test ends
// and returns its URL once it answers.
func startMoto(t *testing.T, py string) string {
	t.Helper()
	port, err := ddblocal.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(py, "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	logs, exited := testproc.Start(t, cmd, "moto")
	// No deadline of its own: a busy machine starts Python slowly; go test's
	// -timeout bounds a server that never answers.
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		select {
		case <-exited:
			t.Fatalf("moto exited before it answered:\n%s", logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// motoConfig is an SDK configuration for moto: its account, the stages' region.
func motoConfig(url string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("moto", "moto", ""),
		BaseEndpoint: aws.String(url),
	}
}

// motoEnv is a process environment that sends the AWS SDK and CLI to moto and
// nowhere else (no shared config files, no instance metadata).
func motoEnv(t *testing.T, url string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ENDPOINT_URL=" + url, "AWS_REGION=" + region, "AWS_DEFAULT_REGION=" + region,
		"AWS_ACCESS_KEY_ID=moto", "AWS_SECRET_ACCESS_KEY=moto", "AWS_EC2_METADATA_DISABLED=true",
	}
}

// motoLacks lists, of the template's resource types, those moto's
// CloudFormation cannot create, as moto itself says (testdata/moto_types.py).
func motoLacks(t *testing.T, py string, tpl obj) map[string]bool {
	t.Helper()
	var types []string
	for _, r := range asObj(tpl["Resources"]) {
		types = append(types, str(get(r, "Type")))
	}
	cmd := exec.Command(py, filepath.Join("testdata", "moto_types.py"))
	cmd.Stdin = strings.NewReader(strings.Join(types, "\n"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("moto_types.py: %v", err)
	}
	lacks := map[string]bool{"AWS::ApiGateway::Deployment": true, "AWS::Lambda::Permission": true, "AWS::Lambda::Version": true,
		// moto runs a mapping's function in Docker on every write to the table;
		// without Docker each seeded item waits for that to fail.
		"AWS::Lambda::EventSourceMapping": true}
	for _, typ := range strings.Fields(string(out)) {
		lacks[typ] = true
	}
	return lacks
}

// motoStack is one stack created in moto: what moto's CloudFormation made,
// what stand-ins made in its place, and what is left to other tests.
type motoStack struct {
	name      string
	st        stack // the template as CloudFormation gets it, for stand-ins' properties
	cfg       aws.Config
	physical  map[string]string // logical id -> physical id
	outputs   map[string]string
	standIns  []string // "Type LogicalId: note"
	covered   []string // "Type LogicalId: test"
	predicted []string // references to resources moto skips, with the value given in their place
}

// motoTemplate makes tpl creatable by moto: a reference from a resource moto
// creates to one it skips becomes the value CloudFormation would give it
// (renderer's), DependsOn on it goes, and the skipped resources leave the
// template. It returns the template and the skipped resources' ids.
func (m *motoStack) motoTemplate(tpl obj, lacks map[string]bool) (obj, []string) {
	tpl = clone(tpl)
	res := asObj(tpl["Resources"])
	var skipped []string
	for id, r := range res {
		if lacks[str(get(r, "Type"))] {
			skipped = append(skipped, id)
		}
	}
	sort.Strings(skipped)
	r := renderer{stack{tpl: clone(tpl), stage: m.st.stage, params: m.st.params}}
	// Conditions as the stage evaluates them, for Ref targets' names.
	value := func(id, attr string) string {
		v := r.physical(id)
		if attr != "" {
			v = r.att(id, attr)
		}
		m.predicted = append(m.predicted, fmt.Sprintf("%s.%s -> %s", id, attr, v))
		return v
	}
	var fix func(v any) any
	fix = func(v any) any {
		switch x := v.(type) {
		case []any:
			for i := range x {
				x[i] = fix(x[i])
			}
		case obj:
			if ref, ok := x["Ref"].(string); ok && len(x) == 1 && slices.Contains(skipped, ref) {
				return value(ref, "")
			}
			if ga := asList(x["Fn::GetAtt"]); len(x) == 1 && len(ga) == 2 && slices.Contains(skipped, str(ga[0])) {
				return value(str(ga[0]), str(ga[1]))
			}
			if sub, ok := x["Fn::Sub"]; ok && len(x) == 1 {
				text, isText := sub.(string)
				if l := asList(sub); len(l) == 2 {
					text, isText = str(l[0]), true
				}
				if isText {
					text = subVarRE.ReplaceAllStringFunc(text, func(s string) string {
						id, attr, _ := strings.Cut(s[2:len(s)-1], ".")
						if !slices.Contains(skipped, id) {
							return s
						}
						return value(id, attr)
					})
					if l := asList(sub); len(l) == 2 {
						l[0] = text
						l[1] = fix(l[1])
					} else {
						x["Fn::Sub"] = text
					}
				}
				return x
			}
			for k := range x {
				x[k] = fix(x[k])
			}
		}
		return v
	}
	for _, id := range skipped {
		delete(res, id)
	}
	for id, rr := range res {
		ro := asObj(rr)
		if dep := strs(ro["DependsOn"]); len(dep) > 0 {
			keep := slices.DeleteFunc(dep, func(d string) bool { return slices.Contains(skipped, d) })
			ro["DependsOn"] = keep
			if len(keep) == 0 {
				delete(ro, "DependsOn")
			}
		}
		res[id] = fix(ro)
	}
	tpl["Outputs"] = fix(tpl["Outputs"])
	return tpl, skipped
}

// create makes the stack in moto, waits for its end state, then creates the
// stand-ins of what moto skipped.
func (m *motoStack) create(ctx context.Context, t *testing.T, py string, tpl obj, params map[string]string) {
	t.Helper()
	lacks := motoLacks(t, py, tpl)
	body, skipped := m.motoTemplate(tpl, lacks)
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	cfn := cloudformation.NewFromConfig(m.cfg)
	in := &cloudformation.CreateStackInput{
		StackName:    aws.String(m.name),
		TemplateBody: aws.String(string(raw)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam, cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityAutoExpand},
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if _, declared := asObj(body["Parameters"])[k]; declared {
			in.Parameters = append(in.Parameters, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(params[k])})
		}
	}
	if _, err := cfn.CreateStack(ctx, in); err != nil {
		t.Fatalf("%s: CreateStack: %v", m.name, err)
	}
	var s cfntypes.Stack
	for {
		out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(m.name)})
		if err != nil {
			t.Fatalf("%s: DescribeStacks: %v", m.name, err)
		}
		s = out.Stacks[0]
		if !strings.HasSuffix(string(s.StackStatus), "_IN_PROGRESS") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s.StackStatus != cfntypes.StackStatusCreateComplete {
		t.Fatalf("%s: %s (%s)", m.name, s.StackStatus, aws.ToString(s.StackStatusReason))
	}
	m.outputs = map[string]string{}
	for _, o := range s.Outputs {
		m.outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	m.physical = map[string]string{}
	pages := cloudformation.NewListStackResourcesPaginator(cfn, &cloudformation.ListStackResourcesInput{StackName: aws.String(m.name)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.StackResourceSummaries {
			m.physical[aws.ToString(r.LogicalResourceId)] = aws.ToString(r.PhysicalResourceId)
		}
	}
	for id := range asObj(body["Resources"]) {
		if _, ok := m.physical[id]; !ok && m.st.resourceExists(id) {
			t.Errorf("%s: moto did not create %s (%s)", m.name, id, str(get(body, "Resources", id, "Type")))
		}
	}
	m.standIn(ctx, t, tpl, skipped)
}

// resourceExists: the resource's Condition, if any, holds in the stage.
func (s stack) resourceExists(id string) bool {
	c := str(get(s.tpl, "Resources", id, "Condition"))
	return c == "" || s.cond(c)
}

// standIn creates the skipped resources that have a stand-in, each once the
// resources its properties name exist, and lists the others with their tests.
func (m *motoStack) standIn(ctx context.Context, t *testing.T, tpl obj, skipped []string) {
	t.Helper()
	st := stack{tpl: tpl, stage: m.st.stage, params: m.st.params}
	var todo []string
	for _, id := range skipped {
		typ := str(get(tpl, "Resources", id, "Type"))
		switch {
		case !st.resourceExists(id):
		case motoStandIns[typ].create != nil:
			todo = append(todo, id)
		case motoCovered[typ] != "":
			m.covered = append(m.covered, fmt.Sprintf("%s %s: %s", typ, id, motoCovered[typ]))
		default:
			t.Errorf("%s: moto skips %s (%s), and neither a stand-in nor a test is named for its type in motoCovered", m.name, id, typ)
		}
	}
	for len(todo) > 0 {
		progress := false
		for _, id := range slices.Clone(todo) {
			raw := st.resource(id)
			typ := str(get(tpl, "Resources", id, "Type"))
			if typ == "AWS::ApiGateway::Deployment" {
				raw["Body"] = st.resource(str(get(tpl, "Resources", id, "Properties", "RestApiId", "Ref")))["Body"]
			}
			props, ok := m.fill(raw)
			if !ok {
				continue
			}
			phys, err := motoStandIns[typ].create(ctx, m, asObj(props))
			if err != nil {
				t.Fatalf("%s: stand-in for %s (%s): %v", m.name, id, typ, err)
			}
			m.physical[id] = phys
			m.standIns = append(m.standIns, fmt.Sprintf("%s %s: %s", typ, id, motoStandIns[typ].note))
			todo = slices.DeleteFunc(todo, func(s string) bool { return s == id })
			progress = true
		}
		if !progress {
			var missing []string
			for _, id := range todo {
				for _, p := range placeholderRE.FindAllString(fmt.Sprint(st.resource(id)), -1) {
					if _, ok := m.physical[strings.Trim(strings.Split(p, ".")[0], "<>")]; !ok {
						missing = append(missing, id+": "+p)
					}
				}
			}
			t.Fatalf("%s: stand-ins name resources that do not exist: %v", m.name, missing)
		}
	}
}

// fill replaces stack.eval's <Id> and <Id.Attr> with the physical values moto
// gave; false while one is not there yet.
func (m *motoStack) fill(v any) (any, bool) {
	ok := true
	var walkFill func(any) any
	walkFill = func(v any) any {
		switch x := v.(type) {
		case string:
			return placeholderRE.ReplaceAllStringFunc(x, func(s string) string {
				p := placeholderRE.FindStringSubmatch(s)
				phys, found := m.physical[p[1]]
				if !found {
					ok = false
					return s
				}
				switch p[2] {
				case "":
					return phys
				case "Version": // a version's physical id is its ARN
					return phys[strings.LastIndex(phys, ":")+1:]
				}
				// An ARN: as CloudFormation makes it, from the names moto used.
				return renderer{m.st}.att(p[1], p[2])
			})
		case []any:
			for i := range x {
				x[i] = walkFill(x[i])
			}
		case obj:
			for k := range x {
				x[k] = walkFill(x[k])
			}
		}
		return v
	}
	out := walkFill(v)
	return out, ok
}

func num(v any) int32 { n, _ := strconv.Atoi(fmt.Sprint(v)); return int32(n) }

func createStage(ctx context.Context, m *motoStack, p obj) (string, error) {
	_, err := apigateway.NewFromConfig(m.cfg).CreateStage(ctx, &apigateway.CreateStageInput{
		RestApiId: aws.String(str(p["RestApiId"])), StageName: aws.String(str(p["StageName"])),
		DeploymentId: aws.String(str(p["DeploymentId"])), TracingEnabled: p["TracingEnabled"] == true,
	})
	return str(p["StageName"]), err
}

func createUsagePlan(ctx context.Context, m *motoStack, p obj) (string, error) {
	in := &apigateway.CreateUsagePlanInput{Name: aws.String(str(p["UsagePlanName"])), Description: aws.String(str(p["Description"]))}
	for _, s := range asList(p["ApiStages"]) {
		in.ApiStages = append(in.ApiStages, apigwtypes.ApiStage{ApiId: aws.String(str(get(s, "ApiId"))), Stage: aws.String(str(get(s, "Stage")))})
	}
	if th := asObj(p["Throttle"]); th != nil {
		rate, _ := strconv.ParseFloat(fmt.Sprint(th["RateLimit"]), 64)
		in.Throttle = &apigwtypes.ThrottleSettings{RateLimit: rate, BurstLimit: num(th["BurstLimit"])}
	}
	if q := asObj(p["Quota"]); q != nil {
		in.Quota = &apigwtypes.QuotaSettings{Limit: num(q["Limit"]), Period: apigwtypes.QuotaPeriodType(str(q["Period"]))}
	}
	out, err := apigateway.NewFromConfig(m.cfg).CreateUsagePlan(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Id), nil
}

func createDeployment(ctx context.Context, m *motoStack, p obj) (string, error) {
	gw := apigateway.NewFromConfig(m.cfg)
	body, err := json.Marshal(p["Body"])
	if err != nil {
		return "", err
	}
	api := aws.String(str(p["RestApiId"]))
	if _, err := gw.PutRestApi(ctx, &apigateway.PutRestApiInput{RestApiId: api, Body: body, Mode: apigwtypes.PutModeOverwrite}); err != nil {
		return "", fmt.Errorf("PutRestApi: %w", err)
	}
	out, err := gw.CreateDeployment(ctx, &apigateway.CreateDeploymentInput{RestApiId: api, Description: aws.String(str(p["Description"]))})
	if err != nil {
		return "", fmt.Errorf("CreateDeployment: %w", err)
	}
	return aws.ToString(out.Id), nil
}

func createPermission(ctx context.Context, m *motoStack, p obj) (string, error) {
	sid := "moto-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	_, err := lambda.NewFromConfig(m.cfg).AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(str(p["FunctionName"])), StatementId: aws.String(sid),
		Action: aws.String(str(p["Action"])), Principal: aws.String(str(p["Principal"])), SourceArn: aws.String(str(p["SourceArn"])),
	})
	return sid, err
}

func createVersion(ctx context.Context, m *motoStack, p obj) (string, error) {
	out, err := lambda.NewFromConfig(m.cfg).PublishVersion(ctx, &lambda.PublishVersionInput{
		FunctionName: aws.String(str(p["FunctionName"])), Description: aws.String(str(p["Description"])),
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.FunctionArn), nil
}

func createAlias(ctx context.Context, m *motoStack, p obj) (string, error) {
	out, err := lambda.NewFromConfig(m.cfg).CreateAlias(ctx, &lambda.CreateAliasInput{
		FunctionName: aws.String(str(p["FunctionName"])), Name: aws.String(str(p["Name"])), FunctionVersion: aws.String(str(p["FunctionVersion"])),
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.AliasArn), nil
}

// zipBootstrap is a Lambda code zip holding one executable named bootstrap.
func zipBootstrap(t *testing.T, path string) []byte {
	t.Helper()
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// motoRun is what a run did, printed at its end as the check's summary.
type motoRun struct {
	mu    sync.Mutex
	lines []string
}

func (r *motoRun) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

// motoBinaries: the functions as make build builds them for Lambda (zipped
// for the artifact bucket), and for this machine with vipctl and
// aws-lambda-rie (to run here).
type motoBinaries struct {
	zips map[string][]byte // logical id -> code zip (linux/arm64)
	host map[string]string // logical id, "vipctl", "rie" -> path
}

func buildForMoto(t *testing.T, tpl obj) motoBinaries {
	t.Helper()
	root, dir := repoRoot(t), t.TempDir()
	b := motoBinaries{zips: map[string][]byte{}, host: map[string]string{}}
	builds := functionBuilds(t, readFile(t, "Makefile"), tpl)
	var pkgs []string
	for _, id := range slices.Sorted(maps.Keys(builds)) {
		out := filepath.Join(dir, "lambda", id)
		cmd := exec.Command("make", "--no-print-directory", "build-"+id, "ARTIFACTS_DIR="+out)
		cmd.Dir = root
		if text, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make build-%s: %v\n%s", id, err, text)
		}
		b.zips[id] = zipBootstrap(t, filepath.Join(out, "bootstrap"))
		pkgs = append(pkgs, builds[id].pkg)
		b.host[id] = filepath.Join(dir, "host", filepath.Base(builds[id].pkg))
	}
	cmd := exec.Command("go", append([]string{"build", "-tags", "lambda.norpc", "-trimpath", "-o", filepath.Join(dir, "host") + string(filepath.Separator)},
		append(pkgs, "./cmd/vipctl", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if text, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, text)
	}
	b.host["vipctl"] = filepath.Join(dir, "host", "vipctl")
	b.host["rie"] = filepath.Join(dir, "host", "aws-lambda-rie")
	return b
}

// TestDeployToMoto: see the top of this file. `make deploy-check` runs it
// with -v, which prints the summary.
func TestDeployToMoto(t *testing.T) {
	if os.Getenv("VIP_DEPLOY_CHECK") == "" {
		t.Skip("the deploy against moto takes minutes: make deploy-check runs it (VIP_DEPLOY_CHECK=1); TestMotoTemplates is its fast part")
	}
	py := needMoto(t)
	ctx := context.Background()
	url := startMoto(t, py)
	cfg := motoConfig(url)
	run := &motoRun{}
	t.Cleanup(func() {
		run.notes()
		t.Log("deploy against moto:\n  " + strings.Join(run.lines, "\n  "))
	})

	all, err := stacks(repoFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	lap := func(what string) {
		run.add("%s: %.1f s", what, time.Since(began).Seconds())
		began = time.Now()
	}
	bins := buildForMoto(t, all[0].tpl)
	lap("built the functions (make build-<LogicalId>, zipped) and, for this machine, them, vipctl and aws-lambda-rie")

	// The account stack, as make bootstrap creates it, its loops expanded as
	// AWS::LanguageExtensions would (expandForEach).
	acctTpl := loadAccount(t)
	delete(acctTpl, "Transform")
	acctParams := withDefaults(acctTpl, map[string]string{"GitHubRepository": repo})
	account := &motoStack{name: "vip-messages-account", cfg: cfg, st: stack{tpl: acctTpl, stage: "account", params: acctParams}}
	account.create(ctx, t, py, acctTpl, acctParams)
	run.add("stack %s: CREATE_COMPLETE", account.name)
	account.report(run)
	lap("  created")
	artifacts := account.physical["ArtifactBucket"]
	if artifacts != bucket {
		t.Errorf("the artifact bucket is %q, make deploy uploads to %q", artifacts, bucket)
	}

	for _, st := range all {
		stageName := "vip-messages-" + st.stage
		// make deploy's upload: the stage's prefix of the account's bucket.
		s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		params := map[string]string{}
		for k, v := range st.params {
			params[k] = v
		}
		if st.stage == "prod" && params["AlarmEmail"] == "" && params["AlarmTopicArn"] == "" {
			params["AlarmEmail"] = "oncall@example.com" // as a team sets it before its first prod deploy
		}
		code := map[string]string{}
		for id, z := range bins.zips {
			sum := sha256.Sum256(z)
			key := fmt.Sprintf("%s/%x", stageName, sum)
			if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(artifacts), Key: aws.String(key), Body: bytes.NewReader(z)}); err != nil {
				t.Fatalf("upload %s: %v", key, err)
			}
			code[id] = "s3://" + artifacts + "/" + key
		}
		tpl := transformWith(t, map[string]map[string]string{st.stage: withCode(params, code)})[st.stage]
		ms := &motoStack{name: stageName, cfg: cfg, st: stack{tpl: tpl, stage: st.stage, params: params}}
		ms.create(ctx, t, py, tpl, params)
		run.add("stack %s: CREATE_COMPLETE", ms.name)
		ms.report(run)
		lap("  transformed, uploaded, created")
		vipctl := motoVipctl{t: t, bin: bins.host["vipctl"], env: motoEnv(t, url), run: run}
		keyID, secret := ms.checkKeys(ctx, t, vipctl)
		lap("  vipctl")
		ms.checkSamples(ctx, t, st.tpl, bins, url, keyID, secret, run)
		lap("  seeded and invoked")
		ms.checkPreflight(ctx, t, url, params, run)
	}
}

// withDefaults is params with the template's defaults for the parameters it leaves out.
func withDefaults(tpl obj, params map[string]string) map[string]string {
	out := map[string]string{}
	for name, p := range asObj(tpl["Parameters"]) {
		if d, ok := asObj(p)["Default"]; ok {
			out[name] = fmt.Sprint(d)
		}
	}
	for k, v := range params {
		out[k] = v
	}
	return out
}

// withCode adds the code locations to a transform's parameters.
func withCode(params, code map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		out[k] = v
	}
	raw, _ := json.Marshal(code)
	out["CodeUri"] = string(raw)
	return out
}

// report adds the stack's stand-ins and the resources left to other tests,
// by type; the notes are printed once, at the end of the run.
func (m *motoStack) report(run *motoRun) {
	for _, l := range []struct {
		what  string
		lines []string
	}{{"stand-ins (not in moto's CloudFormation, made through the API)", m.standIns}, {"not in moto, left to other tests", m.covered}} {
		count := map[string]int{}
		for _, s := range l.lines {
			typ, _, _ := strings.Cut(s, " ")
			count[typ]++
		}
		var parts []string
		for _, typ := range slices.Sorted(maps.Keys(count)) {
			parts = append(parts, fmt.Sprintf("%s x%d", strings.TrimPrefix(typ, "AWS::"), count[typ]))
		}
		if len(parts) > 0 {
			run.add("  %s: %s", l.what, strings.Join(parts, ", "))
		}
	}
}

// notes lists, once, what each stand-in does and which test covers each type
// left out.
func (r *motoRun) notes() {
	r.add("stand-ins:")
	for _, typ := range slices.Sorted(maps.Keys(motoStandIns)) {
		r.add("  %s: %s", typ, motoStandIns[typ].note)
	}
	r.add("left to other tests:")
	for _, typ := range slices.Sorted(maps.Keys(motoCovered)) {
		r.add("  %s: %s", typ, motoCovered[typ])
	}
}

// motoVipctl runs the built vipctl against moto and records its exit code.
type motoVipctl struct {
	t   *testing.T
	bin string
	env []string
	run *motoRun
}

// do runs vipctl with args and returns its stdout; an exit code other than
// want fails the test.
func (v motoVipctl) do(want int, args ...string) string {
	v.t.Helper()
	cmd := exec.Command(v.bin, args...)
	cmd.Env = v.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		v.t.Fatal(err)
	}
	shown := slices.Clone(args)
	for i, a := range shown {
		if strings.HasPrefix(a, "vk_") {
			shown[i] = "KEY"
		}
	}
	v.run.add("  vipctl %s: exit %d", strings.Join(shown, " "), code)
	if code != want {
		v.t.Errorf("vipctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// checkKeys works one key of the stage through every vipctl keys command that
// takes --stage, and checks each step in moto's API Gateway and Secrets
// Manager under the names the stack's outputs give. It returns the key's id
// and current secret.
func (m *motoStack) checkKeys(ctx context.Context, t *testing.T, v motoVipctl) (string, string) {
	t.Helper()
	stage := m.st.stage
	// vipctl --stage derives the names; the stack's outputs say what was made.
	for output, want := range map[string]string{"SecretPrefix": "vip-api/" + stage + "/api-keys", "TableName": "vip-messages-" + stage, "UsagePlanNamePrefix": "vip-messages-" + stage + "-"} {
		if got := m.outputs[output]; got != want {
			t.Errorf("%s: output %s is %q, vipctl --stage %s uses %q", m.name, output, got, stage, want)
		}
	}
	var key struct{ KeyID, Secret, SecretName string }
	out := v.do(0, "keys", "create", "--stage", stage, "--tier", "basic", "--workspace", "ws-demo", "--workspace", "ws-basic", "--json")
	if err := json.Unmarshal([]byte(out), &key); err != nil {
		t.Fatalf("keys create --json: %v\n%s", err, out)
	}
	if want := m.outputs["SecretPrefix"] + "/" + key.KeyID; key.SecretName != want {
		t.Errorf("%s: the key's secret is %s, the stack's prefix makes %s", m.name, key.SecretName, want)
	}
	sm := secretsmanager.NewFromConfig(m.cfg)
	gw := apigateway.NewFromConfig(m.cfg)
	tierOf := func() []string {
		var tiers []string
		for _, tier := range []string{"basic", "standard", "premium"} {
			plan := m.physical[map[string]string{"basic": "BasicUsagePlan", "standard": "StandardUsagePlan", "premium": "PremiumUsagePlan"}[tier]]
			keys, err := gw.GetUsagePlanKeys(ctx, &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(plan)})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys.Items {
				if aws.ToString(k.Value) == key.KeyID {
					tiers = append(tiers, tier)
				}
			}
		}
		return tiers
	}
	deleted := func() bool {
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(key.SecretName)})
		if err != nil {
			t.Fatalf("%s: %v", key.SecretName, err)
		}
		return d.DeletedDate != nil
	}
	if got := tierOf(); !slices.Equal(got, []string{"basic"}) {
		t.Errorf("%s: after create the key is in plans %v, want basic", m.name, got)
	}

	var rotated struct{ Secret string }
	if err := json.Unmarshal([]byte(v.do(0, "keys", "rotate", "--stage", stage, "--json", key.KeyID)), &rotated); err != nil || rotated.Secret == "" || rotated.Secret == key.Secret {
		t.Errorf("%s: keys rotate gave no new secret (%v)", m.name, err)
	}
	v.do(0, "keys", "set-tier", "--stage", stage, "--tier", "premium", key.KeyID)
	if got := tierOf(); !slices.Equal(got, []string{"premium"}) {
		t.Errorf("%s: after set-tier premium the key is in plans %v", m.name, got)
	}
	v.do(0, "keys", "revoke", "--stage", stage, key.KeyID)
	if got := tierOf(); len(got) != 0 || !deleted() {
		t.Errorf("%s: after revoke the key is in plans %v, its secret deleted: %v", m.name, got, deleted())
	}
	v.do(0, "keys", "restore", "--stage", stage, "--tier", "premium", key.KeyID)
	if got := tierOf(); !slices.Equal(got, []string{"premium"}) || deleted() {
		t.Errorf("%s: after restore the key is in plans %v, its secret deleted: %v", m.name, got, deleted())
	}
	return key.KeyID, rotated.Secret
}

// invoke sends event to the function at addr; errType is the function's error
// type when it returned an error.
func invoke(t *testing.T, addr string, event any) (payload []byte, errType string) {
	t.Helper()
	resp := testproc.InvokeRIE(t, addr, event)
	var fnErr struct{ ErrorType string }
	if resp.ErrorType != "" || json.Unmarshal(resp.Payload, &fnErr) == nil && fnErr.ErrorType != "" {
		return resp.Payload, resp.ErrorType + fnErr.ErrorType
	}
	return resp.Payload, ""
}

// gatewayStatus is the status a gateway response type of the API answers:
// the template's StatusCode, else API Gateway's default for the type.
func gatewayStatus(api obj, typ string) int {
	if code, err := strconv.Atoi(fmt.Sprint(get(api, "GatewayResponses", typ, "StatusCode"))); err == nil {
		return code
	}
	return map[string]int{"UNAUTHORIZED": 401, "ACCESS_DENIED": 403, "AUTHORIZER_FAILURE": 500, "AUTHORIZER_CONFIGURATION_ERROR": 500}[typ]
}

// route is what API Gateway does with a request to the API: the API's Lambda
// authorizer first, when the template declares one (a Deny or a failure is
// the gateway response of its type; an Allow passes its context on), then the
// function of the route.
type route struct {
	api        obj    // the API's Properties in the SAM template
	authorizer string // address of the authorizer under aws-lambda-rie, "" when none
	function   string // address of the route's function
}

// authorize runs the authorizer on req: for an Allow, its context for the
// function and status 0; otherwise the gateway response's status.
func (r route) authorize(t *testing.T, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (map[string]any, int, string) {
	t.Helper()
	payload, errType := invoke(t, r.authorizer, req)
	if errType != "" {
		if strings.Contains(string(payload), "Unauthorized") {
			return nil, gatewayStatus(r.api, "UNAUTHORIZED"), "authorizer: Unauthorized"
		}
		return nil, gatewayStatus(r.api, "AUTHORIZER_FAILURE"), "authorizer failed: " + errType
	}
	var resp events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		t.Fatalf("not an authorizer response: %v\n%s", err, payload)
	}
	for _, s := range resp.PolicyDocument.Statement {
		if s.Effect != "Allow" {
			return nil, gatewayStatus(r.api, "ACCESS_DENIED"), fmt.Sprint("authorizer: ", s.Effect, " ", resp.Context["message"])
		}
	}
	ctx := map[string]any{"principalId": resp.PrincipalID}
	for k, v := range resp.Context {
		ctx[k] = v
	}
	return ctx, 0, ""
}

func (r route) status(t *testing.T, ev events.APIGatewayProxyRequest) (int, string) {
	t.Helper()
	if r.authorizer != "" {
		req := events.APIGatewayCustomAuthorizerRequestTypeRequest{
			Type: "REQUEST", MethodArn: "arn:aws:execute-api:" + region + ":" + acct + ":" + ev.RequestContext.APIID + "/" + ev.RequestContext.Stage + "/" + ev.HTTPMethod + ev.Resource,
			Resource: ev.Resource, Path: ev.Path, HTTPMethod: ev.HTTPMethod, Headers: ev.Headers, MultiValueHeaders: ev.MultiValueHeaders,
			QueryStringParameters: ev.QueryStringParameters, MultiValueQueryStringParameters: ev.MultiValueQueryStringParameters,
			PathParameters: ev.PathParameters, StageVariables: ev.StageVariables,
			RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
				Path: ev.RequestContext.Path, AccountID: ev.RequestContext.AccountID, ResourceID: ev.RequestContext.ResourceID,
				Stage: ev.RequestContext.Stage, RequestID: ev.RequestContext.RequestID, ResourcePath: ev.RequestContext.ResourcePath,
				HTTPMethod: ev.RequestContext.HTTPMethod, APIID: ev.RequestContext.APIID,
			},
		}
		ctx, status, note := r.authorize(t, req)
		if ctx == nil {
			return status, note
		}
		ev.RequestContext.Authorizer = ctx
	}
	payload, errType := invoke(t, r.function, ev)
	if errType != "" {
		t.Fatalf("the function failed (%s): %s", errType, payload)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		t.Fatalf("not a proxy response: %v\n%s", err, payload)
	}
	return resp.StatusCode, resp.Body
}

// functionEnv is a function's environment as moto's Lambda holds it (the
// stack's values), with the SDK sent to moto: the variables a deployed
// function has, AWS_ENDPOINT_URL_<SERVICE> included.
func (m *motoStack) functionEnv(ctx context.Context, t *testing.T, id, url string) []string {
	t.Helper()
	fn, err := lambda.NewFromConfig(m.cfg).GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(m.physical[id])})
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	env := map[string]string{
		"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto",
		"AWS_LAMBDA_FUNCTION_NAME": aws.ToString(fn.FunctionName), "AWS_EC2_METADATA_DISABLED": "true",
	}
	if fn.Environment != nil {
		for k, v := range fn.Environment.Variables {
			env[k] = v
		}
	}
	for k := range env {
		if strings.HasPrefix(k, "AWS_ENDPOINT_URL_") {
			env[k] = url // declared empty in the template: the AWS endpoint, here moto
		}
	}
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// checkSamples runs every sample event of events/ through the route of the
// stage's API, each function its built binary under aws-lambda-rie with the
// stack's environment, against moto's DynamoDB (seeded with the demo data)
// and Secrets Manager (the key checkKeys made), and checks each status.
func (m *motoStack) checkSamples(ctx context.Context, t *testing.T, sam obj, bins motoBinaries, url, keyID, secret string, run *motoRun) {
	t.Helper()
	now := time.Now()
	if err := seed.NewWriter(dynamodb.NewFromConfig(m.cfg), m.outputs["TableName"]).Write(ctx, seed.Demo(now)); err != nil {
		t.Fatalf("seeding %s: %v", m.outputs["TableName"], err)
	}
	// The route's function: the one whose Api event is on the template's API.
	var fnID, apiID string
	for _, id := range ofType(sam, "AWS::Serverless::Function") {
		for _, e := range asObj(get(sam, "Resources", id, "Properties", "Events")) {
			if str(get(e, "Type")) == "Api" {
				fnID, apiID = id, str(get(e, "Properties", "RestApiId", "Ref"))
			}
		}
	}
	if fnID == "" {
		t.Fatal("no function of the template serves an Api event")
	}
	r := route{api: asObj(get(sam, "Resources", apiID, "Properties"))}
	start := func(id string) string {
		addr, _ := testproc.StartRIE(t, bins.host["rie"], bins.host[id], m.functionEnv(ctx, t, id, url))
		return addr
	}
	r.function = start(fnID)
	if name := str(get(r.api, "Auth", "DefaultAuthorizer")); name != "" {
		az := asList(get(r.api, "Auth", "Authorizers", name, "FunctionArn", "Fn::GetAtt"))
		if len(az) != 2 || bins.host[str(az[0])] == "" {
			t.Fatalf("authorizer %s: no function of the template (FunctionArn %v)", name, get(r.api, "Auth", "Authorizers", name, "FunctionArn"))
		}
		r.authorizer = start(str(az[0]))
		run.add("  authorizer %s (%s) before %s", name, str(az[0]), fnID)
	}
	// The stream samples go to the function of the table's stream mapping.
	streams, err := filepath.Glob(filepath.Join(repoRoot(t), "events", "stream-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, esm := range ofType(sam, "AWS::Lambda::EventSourceMapping") {
		id := str(get(sam, "Resources", esm, "Properties", "FunctionName", "Ref"))
		addr := start(id)
		for _, file := range streams {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			payload, errType := invoke(t, addr, json.RawMessage(raw))
			var resp events.DynamoDBEventResponse
			if err := json.Unmarshal(payload, &resp); errType != "" || err != nil || len(resp.BatchItemFailures) > 0 {
				t.Errorf("%s: %s on %s: %s %v %s", m.name, id, filepath.Base(file), errType, err, payload)
			}
			run.add("  invoke %s %s: %d batch item failures %s", id, filepath.Base(file), len(resp.BatchItemFailures), errType)
		}
	}
	// The authorizer's own samples, re-signed with the key: an Allow is 200.
	if r.authorizer != "" {
		files, err := sampleevent.AuthorizerFiles(filepath.Join(repoRoot(t), "events"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			req, err := sampleevent.LoadAuthorizer(file)
			if err != nil {
				t.Fatal(err)
			}
			want, err := sampleevent.Status(file)
			if err != nil {
				t.Fatal(err)
			}
			req, _ = sampleevent.ResignAuthorizerAs(req, []string{devstack.DemoSecret}, keyID, secret, time.Now())
			ctx, got, note := r.authorize(t, req)
			if ctx != nil {
				got = http.StatusOK
			}
			run.add("  invoke %s %s: %d %s", str(get(r.api, "Auth", "Authorizers", str(get(r.api, "Auth", "DefaultAuthorizer")), "FunctionArn", "Fn::GetAtt", 0)), filepath.Base(file), got, note)
			if got != want {
				t.Errorf("%s: %s answered %d, want %d: %s", m.name, filepath.Base(file), got, want, note)
			}
		}
	}
	files, err := sampleevent.Files(filepath.Join(repoRoot(t), "events"))
	if err != nil || len(files) == 0 {
		t.Fatalf("sample events: %v %v", files, err)
	}
	for _, file := range files {
		ev, err := sampleevent.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := sampleevent.Status(file)
		if err != nil {
			t.Fatal(err)
		}
		ev.RequestContext.Stage = m.st.stage
		ev, _ = sampleevent.ResignAs(ev, []string{devstack.DemoSecret}, keyID, secret, time.Now())
		got, body := r.status(t, ev)
		note := ""
		var page struct{ Items []json.RawMessage }
		if got == http.StatusOK && json.Unmarshal([]byte(body), &page) == nil {
			note = fmt.Sprintf(" (%d messages)", len(page.Items))
		}
		run.add("  invoke %s %s: %d%s", fnID, filepath.Base(file), got, note)
		if got != want {
			t.Errorf("%s: %s answered %d, want %d: %.300s", m.name, filepath.Base(file), got, want, body)
		}
	}
}

// motoProblems: in the template moto gets, nothing refers to a resource it
// skips, and each skipped resource has a stand-in or a test named for it.
func motoProblems(st stack, moto obj, skipped []string) []string {
	var problems []string
	walk(moto, func(m obj) {
		ref := str(m["Ref"])
		if ga := asList(m["Fn::GetAtt"]); len(ga) == 2 {
			ref = str(ga[0])
		}
		if slices.Contains(skipped, ref) {
			problems = append(problems, "moto's template still refers to "+ref)
		}
	})
	for _, id := range skipped {
		typ := str(get(st.tpl, "Resources", id, "Type"))
		if st.resourceExists(id) && motoStandIns[typ].create == nil && motoCovered[typ] == "" {
			problems = append(problems, fmt.Sprintf("moto skips %s (%s): give its type a stand-in (motoStandIns) or name the test that covers it (motoCovered)", id, typ))
		}
	}
	return problems
}

// TestMotoTemplates is the fast part of TestDeployToMoto, in make test: each
// stage's transformed template and the account stack, as the deploy check
// hands them to moto, refer to nothing moto skips, and every type it skips is
// made by a stand-in or covered by a named test.
func TestMotoTemplates(t *testing.T) {
	t.Parallel()
	py := needMoto(t)
	all, err := stacks(repoFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	acct := loadAccount(t)
	delete(acct, "Transform")
	sts := map[string]stack{"account": {tpl: acct, stage: "account", params: withDefaults(acct, map[string]string{"GitHubRepository": repo})}}
	for stage, tpl := range samTransform(t) {
		for _, s := range all {
			if s.stage == stage {
				sts[stage] = stack{tpl: tpl, stage: stage, params: s.params}
			}
		}
	}
	// One run of moto's own list for every template: Python starts slowly.
	every := obj{"Resources": obj{}}
	for name, st := range sts {
		for id, r := range asObj(st.tpl["Resources"]) {
			asObj(every["Resources"])[name+id] = r
		}
	}
	lacks := motoLacks(t, py, every)
	for name, st := range sts {
		m := &motoStack{name: name, st: st}
		moto, skipped := m.motoTemplate(st.tpl, lacks)
		if len(skipped) == 0 {
			t.Errorf("%s: moto skips nothing: motoLacks is broken", name)
		}
		for _, p := range motoProblems(st, moto, skipped) {
			t.Errorf("%s: %s", name, p)
		}
		// A type nobody covers is reported.
		broken := clone(st.tpl)
		asObj(broken["Resources"])["Unknown"] = obj{"Type": "AWS::Moto::Unknown", "Properties": obj{}}
		moto, skipped = m.motoTemplate(broken, map[string]bool{"AWS::Moto::Unknown": true})
		if len(motoProblems(stack{tpl: broken, stage: st.stage, params: st.params}, moto, skipped)) == 0 {
			t.Errorf("%s: a skipped type without stand-in or test passes", name)
		}
	}
}

// checkPreflight runs scripts/preflight for the stage against moto with the
// real AWS CLI (a fake sam for its version; Lambda's GetAccountSettings,
// which moto lacks, answered by a shim), step by step as an operator would
// meet it on this account: each stop, then its fix.
func (m *motoStack) checkPreflight(ctx context.Context, t *testing.T, url string, params map[string]string, run *motoRun) {
	t.Helper()
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		run.add("  preflight: skipped, no AWS CLI")
		return
	}
	root, bin := repoRoot(t), t.TempDir()
	shim := "#!/bin/sh\n# moto has no Lambda GetAccountSettings: a new account's default.\n" +
		"if [ \"$1 $2\" = \"lambda get-account-settings\" ]; then printf '1000\\t1000\\n'; exit 0; fi\nexec " + awsCLI + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "internal", "deploy", "testdata", "fakebin", "sam"), filepath.Join(bin, "sam")); err != nil {
		t.Fatal(err)
	}
	// samconfig.toml with the parameters this stack was created with.
	cfg := readFile(t, "samconfig.toml")
	if email := params["AlarmEmail"]; email != "" {
		cfg = strings.Replace(cfg, `AlarmEmail=\"\"`, `AlarmEmail=\"`+email+`\"`, 1)
	}
	samconfig := filepath.Join(t.TempDir(), "samconfig.toml")
	if err := os.WriteFile(samconfig, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	preflight := func(want string) {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "preflight"), m.st.stage)
		cmd.Dir = root
		cmd.Env = append(motoEnv(t, url), "PATH="+bin+":"+os.Getenv("PATH"), "SAMCONFIG="+samconfig, "FAKE_SAM_VERSION=1.164.0")
		out, err := cmd.CombinedOutput()
		last := strings.TrimSpace(string(out))
		last = last[strings.LastIndex(last, "\n")+1:]
		run.add("  scripts/preflight %s: %s", m.st.stage, last)
		if !strings.Contains(string(out), want) || (err == nil) != (want == "preflight: ok") {
			t.Errorf("%s: preflight: %v, want %q:\n%s", m.name, err, want, out)
		}
	}
	// moto's CloudFormation skips AWS::ApiGateway::Account: until a stage set it
	// here, the region has no role.
	gw := apigateway.NewFromConfig(m.cfg)
	acc, err := gw.GetAccount(ctx, &apigateway.GetAccountInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(acc.CloudwatchRoleArn) == "" {
		preflight("run 'make bootstrap'")
	}
	if _, err := gw.UpdateAccount(ctx, &apigateway.UpdateAccountInput{PatchOperations: []apigwtypes.PatchOperation{{
		Op: apigwtypes.OpReplace, Path: aws.String("/cloudwatchRoleArn"), Value: aws.String("arn:aws:iam::" + acct + ":role/vip-messages-account-ApiGatewayCloudWatchRole-MOTO"),
	}}}); err != nil {
		t.Fatal(err)
	}
	email := params["AlarmEmail"]
	if m.st.stage != "prod" || email == "" {
		preflight("preflight: ok")
		return
	}
	// Nor does it make AWS::SNS::Subscription: the mail's subscription is missing.
	preflight("is missing (expired unconfirmed?)")
	sub := exec.Command(awsCLI, "sns", "subscribe", "--region", region, "--topic-arn", "arn:aws:sns:"+region+":"+acct+":vip-messages-prod-alarms",
		"--protocol", "email", "--notification-endpoint", email)
	sub.Env = motoEnv(t, url)
	if out, err := sub.CombinedOutput(); err != nil {
		t.Fatalf("aws sns subscribe: %v\n%s", err, out)
	}
	// moto lists an email subscription nobody confirmed by its ARN, where AWS
	// lists PendingConfirmation: here the check passes.
	preflight("preflight: ok")
}
