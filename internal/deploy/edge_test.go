package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/BurntSushi/toml"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/gateway"
)

// The edge (README, "Rate limits"): API Gateway requires an API key from the
// x-api-key header, limits each key by its tier's usage plan, and answers what
// it refuses itself in the contract's shape.

// gwr is the path of a gateway response of the API.
func gwr(typ string, rest ...any) []any {
	return at(apiProps, append([]any{"GatewayResponses", typ}, rest...)...)
}

// tierParam is a tier's parameter: Basic + RateLimit, BurstLimit or DailyQuota.
func tierParam(tier, what string) string {
	r := []rune(tier)
	return string(unicode.ToUpper(r[0])) + string(r[1:]) + what
}

// tierNames are vipctl's rate-limit tiers, smallest first; cmd/vipctl checks
// that each has its usage plan here.
var tierNames = []string{"basic", "standard", "premium"}

func planID(tier string) string { return tierParam(tier, "UsagePlan") }

func init() {
	templateChecks = append(templateChecks, []struct {
		name   string
		check  func(obj) []string
		breaks []mutation
	}{
		{"ApiKeyRequired", checkAPIKeys, []mutation{
			set("no API key required", obj{"ApiKeyRequired": false}, at(apiProps, "Auth")...),
			set("no Auth at all", deleted, at(apiProps, "Auth")...),
			set("route opts out", obj{"ApiKeyRequired": false}, at(event, "Auth")...),
			set("key read from an authorizer", "AUTHORIZER", at(apiProps, "ApiKeySourceType")...),
			set("key source left to the default", deleted, at(apiProps, "ApiKeySourceType")...),
			set("SAM's own usage plan", obj{"ApiKeyRequired": true, "UsagePlan": obj{"CreateUsagePlan": "PER_API"}}, at(apiProps, "Auth")...),
			set("a key in the stack", obj{"Type": "AWS::ApiGateway::ApiKey", "Properties": obj{"Enabled": true}}, "Resources", "DemoKey"),
		}},
		{"UsagePlans", checkUsagePlans, []mutation{
			set("no premium tier", deleted, "Resources", planID("premium")),
			set("plan named otherwise", obj{"Fn::Sub": "vip-messages-${Stage}-gold"}, "Resources", planID("premium"), "Properties", "UsagePlanName"),
			set("plan name without the stage", "vip-messages-standard", "Resources", planID("standard"), "Properties", "UsagePlanName"),
			set("plan of another API", []any{obj{"ApiId": "abc123", "Stage": obj{"Ref": "VipMessagesApi.Stage"}}}, "Resources", planID("basic"), "Properties", "ApiStages"),
			set("plan races the stage", []any{obj{"ApiId": obj{"Ref": apiID}, "Stage": obj{"Ref": "Stage"}}}, "Resources", planID("basic"), "Properties", "ApiStages"),
			set("no throttle", deleted, "Resources", planID("standard"), "Properties", "Throttle"),
			set("fixed rate", 5, "Resources", planID("standard"), "Properties", "Throttle", "RateLimit"),
			set("burst of another tier", obj{"Ref": "PremiumBurstLimit"}, "Resources", planID("standard"), "Properties", "Throttle", "BurstLimit"),
			set("no quota", deleted, "Resources", planID("basic"), "Properties", "Quota"),
			set("monthly quota", "MONTH", "Resources", planID("basic"), "Properties", "Quota", "Period"),
			set("quota not a parameter", 1000, "Resources", planID("premium"), "Properties", "Quota", "Limit"),
			set("quota parameter a string", "String", "Parameters", tierParam("basic", "DailyQuota"), "Type"),
			set("rate parameter without default", deleted, "Parameters", tierParam("basic", "RateLimit"), "Default"),
			set("rate may be zero", 0, "Parameters", tierParam("premium", "RateLimit"), "MinValue"),
			set("default tier bigger than the stage", 500, "Parameters", tierParam("premium", "RateLimit"), "Default"),
		}},
		{"GatewayResponses", checkGatewayResponses, []mutation{
			set("no INVALID_API_KEY", deleted, gwr("INVALID_API_KEY")...),
			set("invalid key is a 403", "403", gwr("INVALID_API_KEY", "StatusCode")...),
			set("invalid key tells the key is unknown", `{"message":"unknown API key"}`, gwr("INVALID_API_KEY", "ResponseTemplates", "application/json")...),
			set("throttled without Retry-After", deleted, gwr("THROTTLED", "ResponseParameters", "Headers", "Retry-After")...),
			set("Retry-After not a number", "'soon'", gwr("THROTTLED", "ResponseParameters", "Headers", "Retry-After")...),
			set("Retry-After unquoted (a mapping, not a value)", "1", gwr("QUOTA_EXCEEDED", "ResponseParameters", "Headers", "Retry-After")...),
			set("throttled is a 503", "503", gwr("THROTTLED", "StatusCode")...),
			set("no QUOTA_EXCEEDED", deleted, gwr("QUOTA_EXCEEDED")...),
			set("unknown path stays 403", deleted, gwr("MISSING_AUTHENTICATION_TOKEN", "StatusCode")...),
			set("unknown path answers text", "not found", gwr("MISSING_AUTHENTICATION_TOKEN", "ResponseTemplates", "application/json")...),
			set("no DEFAULT_4XX", deleted, gwr("DEFAULT_4XX")...),
			set("DEFAULT_5XX not JSON", `{"message":$context.error.messageString`, gwr("DEFAULT_5XX", "ResponseTemplates", "application/json")...),
			set("DEFAULT_5XX template for text/html", obj{"text/html": `{"message":"x"}`}, gwr("DEFAULT_5XX", "ResponseTemplates")...),
			set("DEFAULT_4XX forces one status", "400", gwr("DEFAULT_4XX", "StatusCode")...),
			set("no request id", deleted, gwr("DEFAULT_4XX", "ResponseParameters", "Headers", "X-Request-Id")...),
			set("request id of the wrong variable", "context.extendedRequestId", gwr("THROTTLED", "ResponseParameters", "Headers", "X-Request-Id")...),
			set("no content type", deleted, gwr("DEFAULT_5XX", "ResponseParameters", "Headers", "Content-Type")...),
			set("text content type", "'text/plain'", gwr("INVALID_API_KEY", "ResponseParameters", "Headers", "Content-Type")...),
			set("message is not a string", `{"message":42}`, gwr("QUOTA_EXCEEDED", "ResponseTemplates", "application/json")...),
			set("throttled text drifts from the local gateway's", `{"message":"slow down"}`, gwr("THROTTLED", "ResponseTemplates", "application/json")...),
		}},
	}...)
}

func checkAPIKeys(tpl obj) []string {
	var problems []string
	api := get(tpl, apiProps...)
	if get(api, "ApiKeySourceType") != "HEADER" {
		problems = append(problems, fmt.Sprintf("API ApiKeySourceType is %v, want HEADER (the x-api-key header)", get(api, "ApiKeySourceType")))
	}
	if get(api, "Auth", "ApiKeyRequired") != true {
		problems = append(problems, "API Auth.ApiKeyRequired is not true: unknown keys would reach the function and no tier would apply")
	}
	if v := get(tpl, at(event, "Auth", "ApiKeyRequired")...); v != nil && v != true {
		problems = append(problems, "the GetVipMessages route opts out of the API key")
	}
	if get(api, "Auth", "UsagePlan") != nil {
		problems = append(problems, "API Auth.UsagePlan: SAM's one plan would hold keys outside the tiers")
	}
	// Keys are data, managed by vipctl; one in the stack would be a shared credential.
	if ids := resourcesOfType(tpl, "AWS::ApiGateway::ApiKey"); len(ids) > 0 {
		problems = append(problems, fmt.Sprintf("template declares API keys %v: keys come from vipctl keys create", ids))
	}
	return problems
}

// numberParam checks a tier parameter and returns its default.
func numberParam(tpl obj, name string) (int, []string) {
	p := asObj(get(tpl, "Parameters", name))
	if p == nil {
		return 0, []string{fmt.Sprintf("no parameter %s", name)}
	}
	var problems []string
	if p["Type"] != "Number" {
		problems = append(problems, fmt.Sprintf("parameter %s is of type %v, want Number", name, p["Type"]))
	}
	if m, ok := p["MinValue"].(int); !ok || m < 1 {
		problems = append(problems, fmt.Sprintf("parameter %s has MinValue %v, want at least 1", name, p["MinValue"]))
	}
	d, ok := p["Default"].(int)
	if !ok || d < 1 {
		problems = append(problems, fmt.Sprintf("parameter %s has default %v, want a positive number", name, p["Default"]))
	}
	return d, problems
}

func checkUsagePlans(tpl obj) []string {
	var problems []string
	plans := resourcesOfType(tpl, "AWS::ApiGateway::UsagePlan")
	if len(plans) != len(tierNames) {
		problems = append(problems, fmt.Sprintf("usage plans %v, want one per tier %v", plans, tierNames))
	}
	defaults := map[string]map[string]int{}
	for _, tier := range tierNames {
		id := planID(tier)
		props := get(tpl, "Resources", id, "Properties")
		if get(tpl, "Resources", id, "Type") != "AWS::ApiGateway::UsagePlan" {
			problems = append(problems, fmt.Sprintf("tier %s: no AWS::ApiGateway::UsagePlan %s", tier, id))
			continue
		}
		// vipctl finds the plan by this name.
		want := "vip-messages-${Stage}-" + tier
		if got := str(get(props, "UsagePlanName", "Fn::Sub")); got != want {
			problems = append(problems, fmt.Sprintf("tier %s: UsagePlanName is %v, want !Sub %s", tier, get(props, "UsagePlanName"), want))
		}
		stages := asList(get(props, "ApiStages"))
		if len(stages) != 1 || !isRef(get(stages[0], "ApiId"), apiID) || !isRef(get(stages[0], "Stage"), apiID+".Stage") {
			problems = append(problems, fmt.Sprintf("tier %s: ApiStages %v, want [{ApiId: !Ref %s, Stage: !Ref %s.Stage}] (the reference orders the plan after the stage)", tier, stages, apiID, apiID))
		}
		defaults[tier] = map[string]int{}
		for _, f := range []struct {
			path  []any
			param string
		}{
			{[]any{"Throttle", "RateLimit"}, "RateLimit"},
			{[]any{"Throttle", "BurstLimit"}, "BurstLimit"},
			{[]any{"Quota", "Limit"}, "DailyQuota"},
		} {
			name := tierParam(tier, f.param)
			if !isRef(get(props, f.path...), name) {
				problems = append(problems, fmt.Sprintf("tier %s: %v is %v, want !Ref %s", tier, f.path, get(props, f.path...), name))
			}
			d, ps := numberParam(tpl, name)
			problems = append(problems, ps...)
			defaults[tier][f.param] = d
		}
		if get(props, "Quota", "Period") != "DAY" {
			problems = append(problems, fmt.Sprintf("tier %s: quota period %v, want DAY", tier, get(props, "Quota", "Period")))
		}
	}
	stageRate, _ := get(tpl, "Parameters", "ThrottlingRateLimit", "Default").(int)
	stageBurst, _ := get(tpl, "Parameters", "ThrottlingBurstLimit", "Default").(int)
	problems = append(problems, checkTierNumbers("defaults", defaults, stageRate, stageBurst)...)
	return problems
}

// checkTierNumbers: within a stage, a tier's burst holds at least one second of
// its rate, tiers grow from basic to premium, and no tier may take the whole
// stage (rate and burst below the stage-wide throttle).
func checkTierNumbers(where string, tiers map[string]map[string]int, stageRate, stageBurst int) []string {
	var problems []string
	for i, tier := range tierNames {
		t := tiers[tier]
		if t == nil {
			continue
		}
		if t["BurstLimit"] < t["RateLimit"] {
			problems = append(problems, fmt.Sprintf("%s: tier %s burst %d is below its rate %d", where, tier, t["BurstLimit"], t["RateLimit"]))
		}
		if t["RateLimit"] >= stageRate || t["BurstLimit"] >= stageBurst {
			problems = append(problems, fmt.Sprintf("%s: tier %s (rate %d, burst %d) can take the whole stage (rate %d, burst %d)", where, tier, t["RateLimit"], t["BurstLimit"], stageRate, stageBurst))
		}
		if i > 0 {
			prev := tiers[tierNames[i-1]]
			for _, k := range []string{"RateLimit", "BurstLimit", "DailyQuota"} {
				if prev != nil && t[k] < prev[k] {
					problems = append(problems, fmt.Sprintf("%s: tier %s %s %d is below tier %s's %d", where, tier, k, t[k], tierNames[i-1], prev[k]))
				}
			}
		}
	}
	return problems
}

// gatewayResponses are the answers API Gateway makes itself: status ("" keeps
// API Gateway's own) and whether Retry-After is sent.
var gatewayResponses = []struct {
	typ        string
	status     string
	retryAfter bool
}{
	{"INVALID_API_KEY", "401", false},
	{"THROTTLED", "429", true},
	{"QUOTA_EXCEEDED", "429", true},
	{"MISSING_AUTHENTICATION_TOKEN", "404", false},
	{"DEFAULT_4XX", "", false},
	{"DEFAULT_5XX", "", false},
}

// messageStringRE is the one template variable the bodies may use: the quoted
// error message of API Gateway.
var messageStringRE = regexp.MustCompile(`\$context\.error\.messageString`)

func checkGatewayResponses(tpl obj) []string {
	var problems []string
	all := asObj(get(tpl, at(apiProps, "GatewayResponses")...))
	for _, want := range gatewayResponses {
		r := asObj(all[want.typ])
		if r == nil {
			problems = append(problems, fmt.Sprintf("no gateway response %s", want.typ))
			continue
		}
		if got := fmt.Sprint(r["StatusCode"]); r["StatusCode"] == nil && want.status != "" || r["StatusCode"] != nil && got != want.status {
			problems = append(problems, fmt.Sprintf("%s: StatusCode %v, want %q", want.typ, r["StatusCode"], want.status))
		}
		headers := asObj(get(r, "ResponseParameters", "Headers"))
		if headers["Content-Type"] != "'application/json'" {
			problems = append(problems, fmt.Sprintf("%s: Content-Type header %v, want 'application/json'", want.typ, headers["Content-Type"]))
		}
		if headers["X-Request-Id"] != "context.requestId" {
			problems = append(problems, fmt.Sprintf("%s: X-Request-Id header %v, want context.requestId", want.typ, headers["X-Request-Id"]))
		}
		ra, hasRA := headers["Retry-After"]
		switch {
		case want.retryAfter && !hasRA:
			problems = append(problems, fmt.Sprintf("%s: no Retry-After header", want.typ))
		case want.retryAfter:
			// A static value is quoted; unquoted it would name a request parameter.
			s := str(ra)
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(s, "'"), "'"))
			if len(s) < 3 || s[0] != '\'' || s[len(s)-1] != '\'' || err != nil || n < 1 {
				problems = append(problems, fmt.Sprintf("%s: Retry-After %v, want a quoted number of seconds such as '1'", want.typ, ra))
			}
		case hasRA:
			problems = append(problems, fmt.Sprintf("%s: Retry-After on a response that retrying does not help", want.typ))
		}
		templates := asObj(r["ResponseTemplates"])
		if len(templates) != 1 || templates["application/json"] == nil {
			problems = append(problems, fmt.Sprintf("%s: ResponseTemplates %v, want exactly application/json", want.typ, templates))
			continue
		}
		body := str(templates["application/json"])
		var msg map[string]any
		if err := json.Unmarshal([]byte(messageStringRE.ReplaceAllString(body, `"API Gateway's message"`)), &msg); err != nil {
			problems = append(problems, fmt.Sprintf("%s: body %q is not JSON: %v", want.typ, body, err))
			continue
		}
		if m, ok := msg["message"].(string); len(msg) != 1 || !ok || m == "" {
			problems = append(problems, fmt.Sprintf("%s: body %q, want {\"message\": <string>}", want.typ, body))
		}
		// The same text as the function's, or as the local gateway's stand-in.
		if same := map[string]string{
			"INVALID_API_KEY":              auth.ErrUnauthenticated.Message,
			"THROTTLED":                    gateway.ThrottledMessage,
			"MISSING_AUTHENTICATION_TOKEN": gateway.NotFoundMessage,
		}[want.typ]; same != "" && msg["message"] != same {
			problems = append(problems, fmt.Sprintf("%s: message %q differs from the code's %q", want.typ, msg["message"], same))
		}
	}
	return problems
}

// TestTierNumbersPerStage: each stage's tiers (samconfig.toml overrides, else
// the template defaults) fit inside that stage's own throttle.
func TestTierNumbersPerStage(t *testing.T) {
	tpl := loadTemplate(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(text string) []string {
		var cfg map[string]any
		if _, err := toml.Decode(text, &cfg); err != nil {
			return []string{err.Error()}
		}
		var problems []string
		for _, stage := range stages(tpl) {
			overrides, err := parseOverrides(get(cfg[stage], "deploy", "parameters", "parameter_overrides"))
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			value := func(name string) int {
				if v, ok := overrides[name]; ok {
					n, _ := strconv.Atoi(v)
					return n
				}
				n, _ := get(tpl, "Parameters", name, "Default").(int)
				return n
			}
			tiers := map[string]map[string]int{}
			for _, tier := range tierNames {
				tiers[tier] = map[string]int{}
				for _, k := range []string{"RateLimit", "BurstLimit", "DailyQuota"} {
					tiers[tier][k] = value(tierParam(tier, k))
				}
			}
			problems = append(problems, checkTierNumbers(stage, tiers, value("ThrottlingRateLimit"), value("ThrottlingBurstLimit"))...)
		}
		return problems
	}
	text := string(raw)
	for _, p := range check(text) {
		t.Errorf("samconfig.toml: %s", p)
	}
	for _, b := range []struct{ name, old, new string }{
		{"dev premium as fast as the stage", `PremiumRateLimit=\"5\"`, `PremiumRateLimit=\"10\"`},
		{"prod basic burst below its rate", `ThrottlingBurstLimit=\"200\" BasicRateLimit=\"1\" BasicBurstLimit=\"5\"`, `ThrottlingBurstLimit=\"200\" BasicRateLimit=\"1\" BasicBurstLimit=\"0\"`},
		{"staging standard quota below basic", `StandardDailyQuota=\"50000\" PremiumRateLimit=\"10\"`, `StandardDailyQuota=\"50\" PremiumRateLimit=\"10\"`},
	} {
		if !strings.Contains(text, b.old) {
			t.Errorf("mutation %q: %q is not in samconfig.toml: fix the test", b.name, b.old)
			continue
		}
		if len(check(strings.Replace(text, b.old, b.new, 1))) == 0 {
			t.Errorf("a samconfig.toml with %q passes the check", b.name)
		}
	}
}
