package deploy_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/metrics"
)

// The custom metrics' dashboard and alarms (README, "Operating a stage").
const (
	dashboardID  = "OperationsDashboard"
	fiveXxID     = "ApiFiveXxShareAlarm"
	authAlarmID  = "AuthFailuresSpikeAlarm"
	lagAlarmID   = "LabelIndexLagAlarm"
	p99AlarmID   = "HandlerLatencyP99Alarm"
	dashboardSub = "Resources." + dashboardID + ".Properties.DashboardBody"
)

// emitted is every metric the code can emit, by name, with the dimension sets
// it is emitted under (names sorted and joined with ","): taken from the
// directives the handler and the indexer write, not copied by hand.
func emitted() map[string][]string {
	out := map[string][]string{}
	for _, d := range append(slices.Clone(api.Directives), labelindex.Directive) {
		for _, m := range d.Metrics {
			for _, set := range d.Dimensions {
				out[m.Name] = append(out[m.Name], dimKey(set))
			}
		}
	}
	return out
}

func dimKey(names []string) string {
	s := slices.Clone(names)
	slices.Sort(s)
	return strings.Join(s, ",")
}

// checkEmitted reports a VipMessages metric the code does not emit under these dimensions.
func checkEmitted(where, name string, dims []string) string {
	sets, ok := emitted()[name]
	if !ok {
		return fmt.Sprintf("%s: %s %s is not a metric the code emits", where, metrics.Namespace, name)
	}
	if !slices.Contains(sets, dimKey(dims)) {
		return fmt.Sprintf("%s: %s is emitted with dimensions %v, not [%s]", where, name, sets, dimKey(dims))
	}
	return ""
}

func init() {
	templateChecks = append(templateChecks, []struct {
		name   string
		check  func(obj) []string
		breaks []mutation
	}{
		{"MetricsStage", checkMetricsStage, []mutation{
			set("no STAGE", deleted, "Globals", "Function", "Environment", "Variables", "STAGE"),
			set("fixed STAGE", "prod", "Globals", "Function", "Environment", "Variables", "STAGE"),
			set("indexer reports as another stage", "dev", at(ixEnv, "STAGE")...),
		}},
		{"Dashboard", checkDashboard, []mutation{
			set("no dashboard", deleted, "Resources", dashboardID),
			set("one dashboard for all stages", "vip-messages", "Resources", dashboardID, "Properties", "DashboardName"),
			editBody("body not JSON", `"widgets": [`, `"widgets": [[`),
			editBody("metric the code does not emit", `"ReadPathLabelIndex"`, `"ReadPathIndex"`),
			editBody("metric under the wrong namespace", `["VipMessages", "IndexLag"`, `["VipMessage", "IndexLag"`),
			editBody("dimension the code does not emit", `["VipMessages", "Latency", "Stage", "${Stage}", {"stat": "p50"`,
				`["VipMessages", "Latency", "Reason", "x", "Stage", "${Stage}", {"stat": "p50"`),
			editBody("another stage's metrics", `["VipMessages", "Status2xx", "Stage", "${Stage}", {"label": "2xx"}]`,
				`["VipMessages", "Status2xx", "Stage", "prod", {"label": "2xx"}]`),
			editBody("search for a metric the code does not emit", `MetricName=\"AuthFailures\"`, `MetricName=\"AuthFailure\"`),
			editBody("search on dimensions the code does not emit", `{VipMessages,Reason,Stage}`, `{VipMessages,Stage}`),
			editBody("expression names an unknown id", `100 * server /`, `100 * errors /`),
			editBody("no p99 latency", `{"stat": "p99", "label": "p99"}]`, `{"stat": "p90", "label": "p90"}]`),
			editBody("no DLQ depth", `"ApproximateNumberOfMessagesVisible"`, `"NumberOfMessagesSent"`),
			editBody("DLQ depth of another queue", `"QueueName", "${LabelIndexerDLQ.QueueName}"`, `"QueueName", "other"`),
			editBody("index lag of another function", `"FunctionName", "${LabelIndexerFunction}"`, `"FunctionName", "${VipMessagesFunction}"`),
			editBody("page size without its budget", `"value": 5242880`, `"value": 6291456`),
			editBody("log query on another log group", `SOURCE '${FunctionLogGroup}'`, `SOURCE '${LabelIndexerLogGroup}'`),
		}},
		{"MetricAlarms", checkMetricAlarms, []mutation{
			set("no 5xx share alarm", deleted, "Resources", fiveXxID),
			set("5xx share of a metric the code does not emit", "Status5XX", alarmQuery(fiveXxID, 3, "MetricName")...),
			set("5xx share of another stage", "prod", append(alarmQuery(fiveXxID, 3, "Dimensions"), 0, "Value")...),
			set("5xx count, not share", "server", "Resources", fiveXxID, "Properties", "Metrics", 0, "Expression"),
			set("share as a fraction, not percent", "IF(ok + client + server >= 10, server / (ok + client + server), 0)",
				"Resources", fiveXxID, "Properties", "Metrics", 0, "Expression"),
			set("share of 2xx", "IF(ok + client + server >= 10, 100 * ok / (ok + client + server), 0)",
				"Resources", fiveXxID, "Properties", "Metrics", 0, "Expression"),
			set("one failed request alone alarms", "100 * server / (ok + client + server)",
				"Resources", fiveXxID, "Properties", "Metrics", 0, "Expression"),
			set("4xx counted as failures", "IF(ok + client + server >= 10, 100 * (server + client) / (ok + client + server), 0)",
				"Resources", fiveXxID, "Properties", "Metrics", 0, "Expression"),
			set("no expression returned", false, "Resources", fiveXxID, "Properties", "Metrics", 0, "ReturnData"),
			set("fixed threshold", 5, "Resources", fiveXxID, "Properties", "Threshold"),
			set("5xx share alarm notifies no one", deleted, "Resources", fiveXxID, "Properties", "AlarmActions"),
			set("no handler p99 alarm", deleted, "Resources", p99AlarmID),
			set("handler latency on average", "Average", "Resources", p99AlarmID, "Properties", "ExtendedStatistic"),
			set("no auth failure alarm", deleted, "Resources", authAlarmID),
			set("auth failures under a dimension set the code does not emit", []any{
				obj{"Name": "Stage", "Value": obj{"Ref": "Stage"}}, obj{"Name": "ApiKeyId", "Value": "k"},
			}, "Resources", authAlarmID, "Properties", "Dimensions"),
			set("no index lag alarm", deleted, "Resources", lagAlarmID),
			set("index lag alarm on a metric the code does not emit", "IndexLagMs", "Resources", lagAlarmID, "Properties", "MetricName"),
			set("index lag alarm of another stage", "dev", "Resources", lagAlarmID, "Properties", "Dimensions", 0, "Value"),
			set("index lag alarm wired elsewhere", []any{"arn:aws:sns:us-east-1:123456789012:other"}, "Resources", lagAlarmID, "Properties", "AlarmActions"),
		}},
	}...)
}

// checkMetricsStage: both functions name their stage in the Stage dimension,
// the one the dashboard and alarms select (Ref Stage).
func checkMetricsStage(tpl obj) []string {
	var problems []string
	for _, id := range functionIDs {
		// SAM merges Globals' variables with the function's; the function's win.
		v := get(tpl, "Globals", "Function", "Environment", "Variables", "STAGE")
		if own := get(tpl, "Resources", id, "Properties", "Environment", "Variables", "STAGE"); own != nil {
			v = own
		}
		if !isRef(v, "Stage") {
			problems = append(problems, fmt.Sprintf("function %s STAGE is %v, want Ref Stage (the metrics' Stage dimension)", id, v))
		}
	}
	return problems
}

func alarmQuery(id string, i int, rest ...any) []any {
	return append([]any{"Resources", id, "Properties", "Metrics", i, "MetricStat", "Metric"}, rest...)
}

// editBody is a mutation of the dashboard body's text.
func editBody(name, old, new string) mutation {
	return mutation{name, func(tpl obj) {
		p := []any{"Resources", dashboardID, "Properties", "DashboardBody", "Fn::Sub"}
		s := str(get(tpl, p...))
		if !strings.Contains(s, old) {
			panic(fmt.Sprintf("mutation %q: %q is not in the dashboard body", name, old))
		}
		setPath(tpl, strings.Replace(s, old, new, 1), p...)
	}}
}

// subVars resolves a Fn::Sub string for one stage: parameters to their
// default, Stage to "dev", pseudo parameters and resources to "<Name>" (so
// the checks can tell which resource a value names).
func subVars(tpl obj, s string) string {
	return subVarRE.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if name == "Stage" {
			return "dev"
		}
		if d, ok := asObj(get(tpl, "Parameters", name))["Default"]; ok {
			return fmt.Sprint(d)
		}
		return "<" + name + ">"
	})
}

// dashMetric is one metric a widget plots.
type dashMetric struct {
	namespace, name string
	dims            map[string]string
	stat            string
	id              string
}

func checkDashboard(tpl obj) []string {
	if ids := resourcesOfType(tpl, "AWS::CloudWatch::Dashboard"); !reflect.DeepEqual(ids, []string{dashboardID}) {
		return []string{fmt.Sprintf("want exactly one AWS::CloudWatch::Dashboard %s, got %v", dashboardID, ids)}
	}
	var problems []string
	props := get(tpl, "Resources", dashboardID, "Properties")
	if name := get(props, "DashboardName"); !strings.Contains(str(get(name, "Fn::Sub")), "${Stage}") {
		problems = append(problems, fmt.Sprintf("DashboardName %v does not name the stage (one dashboard per stage)", name))
	}
	raw := str(get(props, "DashboardBody", "Fn::Sub"))
	if raw == "" {
		return append(problems, dashboardSub+" is not a !Sub string")
	}
	var body struct {
		Widgets []struct {
			Type       string
			Properties struct {
				Title       string
				Region      string
				Stat        string
				Metrics     [][]any
				Query       string
				Annotations struct {
					Horizontal []struct{ Value float64 }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(subVars(tpl, raw)), &body); err != nil {
		return append(problems, fmt.Sprintf("%s is not JSON once substituted: %v", dashboardSub, err))
	}
	var all []dashMetric
	var searched []string
	var expressions []string
	for i, w := range body.Widgets {
		where := fmt.Sprintf("widget %d (%q)", i, w.Properties.Title)
		if w.Properties.Region != "<AWS::Region>" {
			problems = append(problems, fmt.Sprintf("%s: region %q, want ${AWS::Region}", where, w.Properties.Region))
		}
		switch w.Type {
		case "log":
			if !strings.HasPrefix(w.Properties.Query, "SOURCE '<FunctionLogGroup>' |") {
				problems = append(problems, fmt.Sprintf("%s: query %q does not read the function's log group", where, w.Properties.Query))
			}
			continue
		case "metric":
		default:
			problems = append(problems, fmt.Sprintf("%s: unknown widget type %q", where, w.Type))
			continue
		}
		ids := map[string]bool{}
		var exprs []string
		budget := slices.ContainsFunc(w.Properties.Annotations.Horizontal, func(a struct{ Value float64 }) bool {
			return a.Value == api.MaxResponseBytes
		})
		for j, entry := range w.Properties.Metrics {
			m, expr, err := parseEntry(entry, w.Properties.Stat)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s metrics[%d]: %v", where, j, err))
				continue
			}
			if expr != "" {
				exprs = append(exprs, expr)
				if s, ok := searchOf(expr); !ok && strings.HasPrefix(expr, "SEARCH(") {
					problems = append(problems, fmt.Sprintf("%s: SEARCH %q is not of the form SEARCH('{Namespace,Dim...} MetricName=\"...\" Stage=\"${Stage}\"', 'Stat', Period)", where, expr))
				} else if ok {
					if p := checkEmitted(where+" SEARCH", s.name, s.dims); p != "" {
						problems = append(problems, p)
					}
					if s.stage != "dev" {
						problems = append(problems, fmt.Sprintf("%s: SEARCH is not limited to Stage=\"${Stage}\": %s", where, expr))
					}
					searched = append(searched, s.name+"/"+dimKey(s.dims))
				}
				ids[m.id] = true
				continue
			}
			ids[m.id] = m.id != ""
			problems = append(problems, checkDashMetric(where, m)...)
			if m.name == api.MetricResponseBytes.Name && !budget {
				problems = append(problems, fmt.Sprintf("%s shows %s without the page byte budget (%d) as an annotation", where, m.name, api.MaxResponseBytes))
			}
			all = append(all, m)
		}
		for _, e := range exprs {
			for _, ref := range exprIDs(e) {
				if !ids[ref] {
					problems = append(problems, fmt.Sprintf("%s: expression %q uses %q, no metric of the widget has that id", where, e, ref))
				}
			}
		}
		expressions = append(expressions, exprs...)
	}
	return append(problems, dashboardCoverage(all, searched, expressions)...)
}

// parseEntry reads a widget's metrics entry: [namespace, name, dim, value,
// ..., {options}] or [{"expression": ...}].
func parseEntry(entry []any, widgetStat string) (m dashMetric, expr string, err error) {
	if len(entry) == 0 {
		return m, "", fmt.Errorf("empty entry")
	}
	if o, ok := entry[0].(map[string]any); ok {
		expr, _ = o["expression"].(string)
		m.id, _ = o["id"].(string)
		if expr == "" || len(entry) != 1 {
			return m, "", fmt.Errorf("entry %v is neither a metric nor one expression", entry)
		}
		return m, expr, nil
	}
	var opts map[string]any
	if o, ok := entry[len(entry)-1].(map[string]any); ok {
		opts, entry = o, entry[:len(entry)-1]
	}
	var parts []string
	for _, e := range entry {
		s, ok := e.(string)
		if !ok || s == "." {
			return m, "", fmt.Errorf("entry %v: write every part out (no \".\" shorthand)", entry)
		}
		parts = append(parts, s)
	}
	if len(parts) < 2 || len(parts)%2 != 0 {
		return m, "", fmt.Errorf("entry %v is not namespace, name and dimension pairs", entry)
	}
	m = dashMetric{namespace: parts[0], name: parts[1], dims: map[string]string{}, stat: widgetStat}
	for i := 2; i < len(parts); i += 2 {
		m.dims[parts[i]] = parts[i+1]
	}
	if s, ok := opts["stat"].(string); ok {
		m.stat = s
	}
	m.id, _ = opts["id"].(string)
	if m.stat == "" {
		return m, "", fmt.Errorf("%s %s has no stat", m.namespace, m.name)
	}
	return m, "", nil
}

// awsMetrics are the AWS metrics the dashboard may show, with the dimension
// values that name this stack's resources.
var awsMetrics = map[string]map[string]string{
	"AWS/ApiGateway Latency":                     {"ApiName": "vip-messages-dev", "Stage": "dev"},
	"AWS/Lambda IteratorAge":                     {"FunctionName": "<" + indexerID + ">"},
	"AWS/SQS ApproximateNumberOfMessagesVisible": {"QueueName": "<" + dlqID + ".QueueName>"},
}

func checkDashMetric(where string, m dashMetric) []string {
	if m.namespace != metrics.Namespace {
		want, ok := awsMetrics[m.namespace+" "+m.name]
		if !ok {
			return []string{fmt.Sprintf("%s: %s %s is neither ours (%s) nor one this check knows", where, m.namespace, m.name, metrics.Namespace)}
		}
		if !reflect.DeepEqual(m.dims, want) {
			return []string{fmt.Sprintf("%s: %s %s dimensions %v, want %v", where, m.namespace, m.name, m.dims, want)}
		}
		return nil
	}
	var problems []string
	names := make([]string, 0, len(m.dims))
	for k := range m.dims {
		names = append(names, k)
	}
	if p := checkEmitted(where, m.name, names); p != "" {
		problems = append(problems, p)
	}
	if m.dims[metrics.DimStage] != "dev" {
		problems = append(problems, fmt.Sprintf("%s: %s has Stage %q, want ${Stage}", where, m.name, m.dims[metrics.DimStage]))
	}
	return problems
}

// dashboardCoverage: the dashboard shows what issue 13 asks an operator to see.
func dashboardCoverage(all []dashMetric, searched, expressions []string) []string {
	has := func(ns, name, stat string) bool {
		return slices.ContainsFunc(all, func(m dashMetric) bool {
			return m.namespace == ns && m.name == name && (stat == "" || m.stat == stat)
		})
	}
	var problems []string
	for _, w := range []struct{ ns, name, stat, what string }{
		{metrics.Namespace, api.MetricStatus2xx.Name, "Sum", "traffic by status class"},
		{metrics.Namespace, api.MetricStatus4xx.Name, "Sum", "traffic by status class"},
		{metrics.Namespace, api.MetricStatus5xx.Name, "Sum", "traffic by status class"},
		{metrics.Namespace, api.MetricLatency.Name, "p50", "p50 latency"},
		{metrics.Namespace, api.MetricLatency.Name, "p99", "p99 latency"},
		{metrics.Namespace, api.MetricSecretsManagerTime.Name, "", "time waiting on Secrets Manager"},
		{metrics.Namespace, api.MetricDynamoDBTime.Name, "", "time waiting on DynamoDB"},
		{metrics.Namespace, api.MetricItemsRead.Name, "Sum", "items read per item returned"},
		{metrics.Namespace, api.MetricItemsReturned.Name, "Sum", "items read per item returned"},
		{metrics.Namespace, labelindex.MetricLag.Name, "Maximum", "index lag"},
		{metrics.Namespace, api.MetricResponseBytes.Name, "Maximum", "how close pages come to the byte budget"},
		{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "", "the DLQ depth"},
	} {
		if !has(w.ns, w.name, w.stat) {
			problems = append(problems, fmt.Sprintf("the dashboard does not show %s (%s %s %s)", w.what, w.ns, w.name, w.stat))
		}
	}
	if !slices.Contains(searched, api.MetricAuthFailures.Name+"/"+dimKey([]string{metrics.DimStage, metrics.DimReason})) {
		problems = append(problems, "the dashboard does not show auth failures by reason (a SEARCH over {VipMessages,Reason,Stage})")
	}
	ratio := slices.ContainsFunc(expressions, func(e string) bool { return strings.Contains(e, "/") })
	if !ratio {
		problems = append(problems, "the dashboard computes no ratio (items read per item returned)")
	}
	return problems
}

// search is a SEARCH expression's schema and metric.
type search struct {
	name, stage string
	dims        []string
}

var searchRE = regexp.MustCompile(`^SEARCH\('\{([^}]*)\}((?: [A-Za-z]+="[^"]*")*)', '[A-Za-z0-9.]+', [0-9]+\)$`)
var searchTermRE = regexp.MustCompile(`([A-Za-z]+)="([^"]*)"`)

func searchOf(expr string) (search, bool) {
	m := searchRE.FindStringSubmatch(expr)
	if m == nil {
		return search{}, false
	}
	schema := strings.Split(m[1], ",")
	s := search{dims: schema[1:]}
	if schema[0] != metrics.Namespace {
		s.name = schema[0] + "?"
	}
	for _, t := range searchTermRE.FindAllStringSubmatch(m[2], -1) {
		switch t[1] {
		case "MetricName":
			s.name += t[2]
		case metrics.DimStage:
			s.stage = t[2]
		}
	}
	return s, true
}

var exprIdentRE = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*\(?`)

// exprIDs are the metric ids a math expression uses (lower-case first
// letter; functions are upper case and followed by "(").
func exprIDs(e string) []string {
	if strings.HasPrefix(e, "SEARCH(") {
		return nil
	}
	var out []string
	for _, tok := range exprIdentRE.FindAllString(e, -1) {
		if strings.HasSuffix(tok, "(") || !unicode.IsLower(rune(tok[0])) {
			continue
		}
		out = append(out, tok)
	}
	return out
}

// checkMetricAlarms: every alarm on our namespace names an emitted metric of
// its own stage, and the four alarms issue 13 asks for exist, wired like the
// stage's other alarms.
func checkMetricAlarms(tpl obj) []string {
	var problems []string
	wiring := get(tpl, "Resources", "FunctionErrorsAlarm", "Properties", "AlarmActions")
	if wiring == nil {
		problems = append(problems, "FunctionErrorsAlarm has no AlarmActions to wire the custom alarms like")
	}
	for _, id := range resourcesOfType(tpl, "AWS::CloudWatch::Alarm") {
		p := get(tpl, "Resources", id, "Properties")
		var stats []any
		if get(p, "MetricName") != nil {
			stats = append(stats, p)
		}
		for _, q := range asList(get(p, "Metrics")) {
			if m := get(q, "MetricStat", "Metric"); m != nil {
				stats = append(stats, m)
			}
		}
		ours := false
		for _, m := range stats {
			if get(m, "Namespace") != metrics.Namespace {
				continue
			}
			ours = true
			var dims []string
			for _, d := range asList(get(m, "Dimensions")) {
				dims = append(dims, str(get(d, "Name")))
				if get(d, "Name") == metrics.DimStage && !isRef(get(d, "Value"), "Stage") {
					problems = append(problems, fmt.Sprintf("alarm %s: Stage dimension %v, want Ref Stage", id, get(d, "Value")))
				}
			}
			if !slices.Contains(dims, metrics.DimStage) {
				problems = append(problems, fmt.Sprintf("alarm %s: %v has no Stage dimension", id, get(m, "MetricName")))
			}
			if pr := checkEmitted("alarm "+id, str(get(m, "MetricName")), dims); pr != "" {
				problems = append(problems, pr)
			}
		}
		if ours && !reflect.DeepEqual(get(p, "AlarmActions"), wiring) {
			problems = append(problems, fmt.Sprintf("alarm %s AlarmActions %v, want the stage's %v (as FunctionErrorsAlarm)", id, get(p, "AlarmActions"), wiring))
		}
	}

	single := func(id, name, stat string, threshold string) {
		p := get(tpl, "Resources", id, "Properties")
		if p == nil {
			problems = append(problems, fmt.Sprintf("no alarm %s on %s %s", id, metrics.Namespace, name))
			return
		}
		got := str(get(p, "Statistic"))
		if ext := str(get(p, "ExtendedStatistic")); ext != "" {
			got = ext
		}
		var dims []string
		for _, d := range asList(get(p, "Dimensions")) {
			dims = append(dims, str(get(d, "Name")))
		}
		if get(p, "Namespace") != metrics.Namespace || get(p, "MetricName") != name || got != stat || !slices.Equal(dims, []string{metrics.DimStage}) {
			problems = append(problems, fmt.Sprintf("alarm %s is on %v %v (%s) by %v, want %s %s (%s) by Stage",
				id, get(p, "Namespace"), get(p, "MetricName"), got, dims, metrics.Namespace, name, stat))
		}
		if !isRef(get(p, "Threshold"), threshold) {
			problems = append(problems, fmt.Sprintf("alarm %s Threshold %v, want Ref %s", id, get(p, "Threshold"), threshold))
		}
	}
	single(p99AlarmID, api.MetricLatency.Name, "p99", "LatencyP99AlarmMs")
	single(authAlarmID, api.MetricAuthFailures.Name, "Sum", "AuthFailuresAlarmCount")
	single(lagAlarmID, labelindex.MetricLag.Name, "Maximum", "IndexLagAlarmMs")
	return append(problems, checkFiveXxShare(tpl)...)
}

// checkFiveXxShare evaluates the alarm's expression on sample minutes: the
// share of 5xx in percent, and nothing for a minute of very few requests.
func checkFiveXxShare(tpl obj) []string {
	p := get(tpl, "Resources", fiveXxID, "Properties")
	if p == nil {
		return []string{"no alarm " + fiveXxID + " (the deployment's rollback alarm)"}
	}
	var problems []string
	if !isRef(get(p, "Threshold"), "FiveXxShareAlarmPercent") {
		problems = append(problems, fmt.Sprintf("%s Threshold %v, want Ref FiveXxShareAlarmPercent", fiveXxID, get(p, "Threshold")))
	}
	class := map[string]string{} // id -> status metric
	var expr []string
	for _, q := range asList(get(p, "Metrics")) {
		if e := str(get(q, "Expression")); e != "" && get(q, "ReturnData") == true {
			expr = append(expr, e)
		}
		if m := get(q, "MetricStat", "Metric"); m != nil && get(q, "MetricStat", "Stat") == "Sum" {
			class[str(get(q, "Id"))] = str(get(m, "MetricName"))
		}
	}
	if len(expr) != 1 {
		return append(problems, fmt.Sprintf("%s returns %d expressions, want one", fiveXxID, len(expr)))
	}
	for _, tc := range []struct {
		ok, client, server float64
		want               float64
	}{
		{90, 5, 5, 5},
		{0, 0, 20, 100},
		{50, 50, 0, 0},
		{0, 0, 1, 0},  // one request in the minute: not a share worth paging for
		{0, 3, 3, 0},  // nor six
		{95, 0, 5, 5}, // the volume floor is not above 100 requests a minute
	} {
		vars := map[string]float64{}
		for id, name := range class {
			switch name {
			case api.MetricStatus2xx.Name:
				vars[id] = tc.ok
			case api.MetricStatus4xx.Name:
				vars[id] = tc.client
			case api.MetricStatus5xx.Name:
				vars[id] = tc.server
			}
		}
		got, err := evalExpr(expr[0], vars)
		if err != nil {
			return append(problems, fmt.Sprintf("%s expression %q: %v", fiveXxID, expr[0], err))
		}
		if math.Abs(got-tc.want) > 1e-9 {
			problems = append(problems, fmt.Sprintf("%s expression %q for 2xx=%v 4xx=%v 5xx=%v is %v, want %v",
				fiveXxID, expr[0], tc.ok, tc.client, tc.server, got, tc.want))
		}
	}
	return problems
}

// evalExpr evaluates the metric math the alarms use: numbers, ids, + - * /,
// comparisons and IF(cond, a, b), on one datapoint.
func evalExpr(s string, vars map[string]float64) (float64, error) {
	p := &exprParser{s: strings.ReplaceAll(s, " ", ""), vars: vars}
	v, err := p.cmp()
	if err == nil && p.i != len(p.s) {
		err = fmt.Errorf("unexpected %q", p.s[p.i:])
	}
	return v, err
}

type exprParser struct {
	s    string
	i    int
	vars map[string]float64
}

func (p *exprParser) cmp() (float64, error) {
	a, err := p.sum()
	if err != nil {
		return 0, err
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			b, err := p.sum()
			if err != nil {
				return 0, err
			}
			r := map[string]bool{">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]
			if r {
				return 1, nil
			}
			return 0, nil
		}
	}
	return a, nil
}

func (p *exprParser) sum() (float64, error) {
	a, err := p.product()
	for err == nil && p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
		op := p.s[p.i]
		p.i++
		var b float64
		if b, err = p.product(); op == '+' {
			a += b
		} else {
			a -= b
		}
	}
	return a, err
}

func (p *exprParser) product() (float64, error) {
	a, err := p.atom()
	for err == nil && p.i < len(p.s) && (p.s[p.i] == '*' || p.s[p.i] == '/') {
		op := p.s[p.i]
		p.i++
		var b float64
		if b, err = p.atom(); op == '*' {
			a *= b
		} else {
			a /= b
		}
	}
	return a, err
}

func (p *exprParser) atom() (float64, error) {
	rest := p.s[p.i:]
	switch {
	case strings.HasPrefix(rest, "("):
		p.i++
		v, err := p.cmp()
		if err != nil || !strings.HasPrefix(p.s[p.i:], ")") {
			return 0, fmt.Errorf("unbalanced parenthesis: %v", err)
		}
		p.i++
		return v, nil
	case strings.HasPrefix(rest, "IF("):
		p.i += 3
		var args [3]float64
		for k := range args {
			v, err := p.cmp()
			if err != nil {
				return 0, err
			}
			args[k] = v
			sep := ","
			if k == 2 {
				sep = ")"
			}
			if !strings.HasPrefix(p.s[p.i:], sep) {
				return 0, fmt.Errorf("IF: want %q at %q", sep, p.s[p.i:])
			}
			p.i++
		}
		if args[0] != 0 {
			return args[1], nil
		}
		return args[2], nil
	}
	n := 0
	for n < len(rest) && (rest[n] == '.' || rest[n] == '_' || unicode.IsLetter(rune(rest[n])) || unicode.IsDigit(rune(rest[n]))) {
		n++
	}
	tok := rest[:n]
	if tok == "" {
		return 0, fmt.Errorf("unexpected %q", rest)
	}
	p.i += n
	if f, err := strconv.ParseFloat(tok, 64); err == nil {
		return f, nil
	}
	v, ok := p.vars[tok]
	if !ok {
		return 0, fmt.Errorf("unknown id %q", tok)
	}
	return v, nil
}
