package deploy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	// moto's CloudFormation makes a RestApi without its Body (the OpenAPI SAM
	// generates), and a deployment of an API without methods fails.
	// moto's CloudFormation gives a version no physical id, and its Ref is no ARN
	// (the hook's TARGET_VERSION_ARN became an object that ListFunctions cannot
	// serialize: HTTP 500).
	"AWS::Lambda::Version": {createVersion, "PublishVersion with the template's Description (VersionDescription)"},
	// moto's CloudFormation looks the permission's function up, and here it is
	// the alias, a stand-in made after the stack.
	"AWS::Lambda::Permission":     {createPermission, "AddPermission (API Gateway may invoke the live alias)"},
	"AWS::ApiGateway::Deployment": {createDeployment, "PutRestApi with the RestApi's Body (moto's CloudFormation ignores Body), then CreateDeployment"},
}

// motoCovered says which test covers a resource type moto's CloudFormation
// skips and no stand-in creates.
var motoCovered = map[string]string{
	"AWS::CloudWatch::Alarm":           "metrics_test (metrics the code emits), rollback_test (what rolls back)",
	"AWS::CodeDeploy::Application":     "rollback_test (the transformed deployment group)",
	"AWS::CodeDeploy::DeploymentGroup": "rollback_test (its alarms, hook and role)",
	"AWS::SNS::Subscription":           "scripts/preflight (prod's subscription confirmed), TestPreflight",
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
	logs := &lockedBuffer{}
	cmd := exec.Command(py, "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		if t.Failed() {
			out := logs.String()
			t.Logf("moto's output (last 4 KB):\n%s", out[max(0, len(out)-4096):])
		}
	})
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

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
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
	lacks := map[string]bool{"AWS::ApiGateway::Deployment": true, "AWS::Lambda::Permission": true, "AWS::Lambda::Version": true}
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
	_ = os.WriteFile("/tmp/motoexp/"+m.name+".json", raw, 0o644) // DEBUG
	cfn := cloudformation.NewFromConfig(m.cfg)
	in := &cloudformation.CreateStackInput{
		StackName:    aws.String(m.name),
		TemplateBody: aws.String(string(raw)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam, cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityAutoExpand},
	}
	for _, k := range slices.Sorted(mapsKeys(params)) {
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

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
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

// waitTCP waits until addr accepts a connection or the process exits.
func waitTCP(addr string, exited <-chan struct{}) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-exited:
			return fmt.Errorf("the process exited before it listened on %s", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var (
	_ = base64.StdEncoding
	_ = sha256.New
	_ = errors.New
	_ = io.EOF
	_ = dynamodb.New
	_ = s3.New
	_ = secretsmanager.New
)

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
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range builds {
			if !yield(id) {
				return
			}
		}
	}) {
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
	py := needMoto(t)
	ctx := context.Background()
	url := startMoto(t, py)
	cfg := motoConfig(url)
	run := &motoRun{}
	t.Cleanup(func() { t.Log("deploy against moto:\n  " + strings.Join(run.lines, "\n  ")) })

	all, err := stacks(repoFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	bins := buildForMoto(t, all[0].tpl)

	// The account stack, as make bootstrap creates it, its loops expanded as
	// AWS::LanguageExtensions would (expandForEach).
	acctTpl := loadAccount(t)
	delete(acctTpl, "Transform")
	acctParams := withDefaults(acctTpl, map[string]string{"GitHubRepository": repo})
	account := &motoStack{name: "vip-messages-account", cfg: cfg, st: stack{tpl: acctTpl, stage: "account", params: acctParams}}
	account.create(ctx, t, py, acctTpl, acctParams)
	run.add("stack %s: CREATE_COMPLETE", account.name)
	account.report(run)
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
		_ = secretsmanager.New
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

func (m *motoStack) report(run *motoRun) {
	for _, s := range m.standIns {
		run.add("  stand-in  %s", s)
	}
	for _, s := range m.covered {
		run.add("  not in moto, covered by %s", s)
	}
}
