package deploy_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/app/authorizer"
	"github.com/vip-messages/api/internal/app/labelindexer"
	"github.com/vip-messages/api/internal/pretraffic"
)

const tableID = "MessagesTable"

// config is what a function makes of its environment, by the code's own parser.
type config struct{ table, stage, secretPrefix string }

// parsers are the functions configured by internal/app, by logical id.
var parsers = map[string]func(getenv func(string) string) (config, error){
	"VipMessagesFunction": func(getenv func(string) string) (config, error) {
		c, err := app.FromEnv(getenv)
		return config{table: c.Table, stage: c.Stage}, err
	},
	"AuthorizerFunction": func(getenv func(string) string) (config, error) {
		c, err := authorizer.FromEnv(getenv)
		return config{stage: c.Stage, secretPrefix: c.SecretPrefix}, err
	},
	"LabelIndexerFunction": func(getenv func(string) string) (config, error) {
		c, err := labelindexer.FromEnv(getenv)
		return config{table: c.Table, stage: c.Stage}, err
	},
	"PreTrafficHookFunction": func(getenv func(string) string) (config, error) {
		h, err := pretraffic.FromEnv(getenv)
		return config{stage: h.Stage, secretPrefix: h.SecretPrefix}, err
	},
}

// functionConfig parses a function's Environment.Variables in a stage as the
// function does at its cold start.
func functionConfig(s stack, id string) (config, error) {
	env := asObj(get(s.resource(id), "Environment", "Variables"))
	return parsers[id](func(name string) string {
		if v, ok := env[name]; ok {
			return fmt.Sprint(v)
		}
		return ""
	})
}

// TestFunctionsAcceptTheirEnvironment: in every stage, each function's
// configuration parses (a TTL that is not a Go duration, an unknown log level
// would stop its cold start), reads the stack's own table, and names the stage
// in its metrics' Stage dimension, which the dashboard and alarms select.
func TestFunctionsAcceptTheirEnvironment(t *testing.T) {
	t.Parallel()
	checkFiles(t, forEachStage(func(s stack) []string {
		var problems []string
		for id := range parsers {
			c, err := functionConfig(s, id)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", id, err))
				continue
			}
			if c.table != "<"+tableID+">" && id != "AuthorizerFunction" && id != "PreTrafficHookFunction" { // they read no table
				problems = append(problems, fmt.Sprintf("%s reads table %q, not the stack's %s", id, c.table, tableID))
			}
			if c.stage != s.stage {
				problems = append(problems, fmt.Sprintf("%s emits its metrics under Stage %q", id, c.stage))
			}
		}
		return problems
	}), []edit{
		{"TTL not a Go duration", "KEY_CACHE_TTL: !Ref KeyCacheTTL", "KEY_CACHE_TTL: 5 minutes"},
		{"samconfig: a stage's TTL not a Go duration", `KeyStaleTTL=\"1h\"`, `KeyStaleTTL=\"1 hour\"`},
		{"samconfig: unknown log level", `LogLevel=\"debug\"`, `LogLevel=\"verbose\"`},
		{"read budget out of range", `FILTER_MAX_CALLS: "8"`, `FILTER_MAX_CALLS: "0"`},
		{"no secret prefix", "SECRET_PREFIX: &secretPrefix", "SECRET_PREFIX_UNUSED: &secretPrefix"},
		{"table by name", "TABLE_NAME: !Ref MessagesTable", "TABLE_NAME: vip-messages"},
		{"no STAGE (metrics under Stage local)", "STAGE: !Ref Stage", "STAGE_NAME: !Ref Stage"},
		{"samconfig: unknown parameter", `LogLevel=\"debug\"`, `LogLevel=\"debug\" Verbose=\"1\"`},
		{"samconfig: environment deploys another stage", `Stage=\"staging\"`, `Stage=\"prod\"`},
		{"samconfig: a stage without its environment", "[prod.deploy.parameters]", "[production.deploy.parameters]"},
	})
}

// endpointVars are the SDK's endpoint overrides the template declares for sam
// local, by the IAM service prefix of their service: a function may declare one
// only when its policies let it call that service.
var endpointVars = map[string]string{
	"dynamodb":       "AWS_ENDPOINT_URL_DYNAMODB",
	"secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
}

// codeReads is what a function's code reads from its environment: the names its
// parser asks for (parsers) and the os.Getenv and os.LookupEnv literals of its
// main package.
func codeReads(t *testing.T, id, pkg string) map[string]bool {
	t.Helper()
	reads := map[string]bool{}
	if parse, ok := parsers[id]; ok {
		_, _ = parse(func(name string) string { reads[name] = true; return "" })
	}
	dir := filepath.Join(repoRoot(t), filepath.FromSlash(pkg))
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no Go files in %s: %v", id, dir, err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, isIdent := sel.X.(*ast.Ident); !isIdent || x.Name != "os" || (sel.Sel.Name != "Getenv" && sel.Sel.Name != "LookupEnv") {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				reads[name] = true
			}
			return true
		})
	}
	return reads
}

// endpointsAllowed are the endpoint overrides of the services a function's
// policies let it call.
func endpointsAllowed(props obj) map[string]bool {
	out := map[string]bool{}
	walk(props["Policies"], func(m obj) {
		for _, a := range strs(m["Action"]) {
			service, _, _ := strings.Cut(a, ":")
			if v, ok := endpointVars[service]; ok {
				out[v] = true
			}
		}
	})
	return out
}

// envProblems compares what a function declares with what its code reads.
func envProblems(id string, declared, reads, endpoints map[string]bool) []string {
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(declared)) {
		if !reads[name] && !endpoints[name] {
			problems = append(problems, fmt.Sprintf("%s declares %s, which its code does not read (a Globals variable? a parser missing from parsers in config_test.go?)", id, name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(reads)) {
		if !declared[name] {
			problems = append(problems, fmt.Sprintf("%s reads %s, which the template does not declare", id, name))
		}
	}
	return problems
}

// TestFunctionsDeclareWhatTheyRead: each function's Environment (Globals merged)
// is exactly what its code reads, so no function carries another's settings
// (the pre-traffic hook once inherited the API's table and endpoints).
func TestFunctionsDeclareWhatTheyRead(t *testing.T) {
	t.Parallel()
	pkgs := map[string]string{}
	for id, b := range functionBuilds(t, readFile(t, "Makefile"), mustParse(t, readFile(t, "template.yaml"))) {
		if b.err != nil || b.pkg == "" {
			t.Fatalf("%s: no package from make -n: %v", id, b.err)
		}
		pkgs[id] = b.pkg
	}
	codes := map[string]map[string]bool{}
	for id, pkg := range pkgs {
		codes[id] = codeReads(t, id, pkg)
	}
	checkFiles(t, func(f files) []string {
		tpl, err := parseYAML(f.template)
		if err != nil {
			return []string{err.Error()}
		}
		var problems []string
		for _, id := range ofType(tpl, "AWS::Serverless::Function") {
			reads, ok := codes[id]
			if !ok {
				problems = append(problems, id+": no package builds it")
				continue
			}
			props := functionProps(tpl, id)
			declared := map[string]bool{}
			for name := range asObj(get(props, "Environment", "Variables")) {
				declared[name] = true
			}
			problems = append(problems, envProblems(id, declared, reads, endpointsAllowed(props))...)
		}
		return problems
	}, []edit{
		{"a variable every function inherits", "    # No Environment here: each function declares", "    Environment:\n      Variables:\n        TABLE_NAME: !Ref MessagesTable\n    # No Environment here: each function declares"},
		{"the hook without its target", "TARGET_VERSION_ARN: !Ref VipMessagesFunction.Version", "TARGET_ARN: !Ref VipMessagesFunction.Version"},
		{"an endpoint of a service the indexer does not use", "      Environment:\n        Variables:\n          TABLE_NAME: !Ref MessagesTable\n          LOG_LEVEL: *logLevel", "      Environment:\n        Variables:\n          AWS_ENDPOINT_URL_SECRETS_MANAGER: \"\"\n          TABLE_NAME: !Ref MessagesTable\n          LOG_LEVEL: *logLevel"},
		{"the API without its read budget", "          FILTER_MAX_CALLS: \"8\"\n", ""},
	})
}

func mustParse(t *testing.T, text string) obj {
	t.Helper()
	tpl, err := parseYAML(text)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}
