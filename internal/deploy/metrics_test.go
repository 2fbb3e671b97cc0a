package deploy_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/metrics"
)

// emitted is every metric the code can emit, by name, with the dimension sets
// it is emitted under (names sorted, joined with ","), from the directives the
// handler, the authorizer and the indexer write.
func emitted() map[string][]string {
	out := map[string][]string{}
	for _, d := range append(append(slices.Clone(api.Directives), authorizer.Directives...), labelindex.Directive) {
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

// checkMetric reports a metric of the code's namespace that the code does not
// emit under these dimensions, or that selects another stage's values.
func checkMetric(s stack, where, name string, dims map[string]string) []string {
	names := make([]string, 0, len(dims))
	for k := range dims {
		names = append(names, k)
	}
	sets, ok := emitted()[name]
	switch {
	case !ok:
		return []string{fmt.Sprintf("%s: %s %s is not a metric the code emits", where, metrics.Namespace, name)}
	case !slices.Contains(sets, dimKey(names)):
		return []string{fmt.Sprintf("%s: %s is emitted with dimensions %v, not [%s]", where, name, sets, dimKey(names))}
	case dims[metrics.DimStage] != s.stage:
		return []string{fmt.Sprintf("%s: %s of Stage %q", where, name, dims[metrics.DimStage])}
	}
	return nil
}

// searchRE reads a SEARCH over the code's metrics:
// SEARCH('{VipMessages,Dim,...} MetricName="..." Stage="..."', 'Stat', Period).
var searchRE = regexp.MustCompile(`^SEARCH\('\{` + metrics.Namespace + `,([^}]*)\} MetricName="([^"]*)" Stage="([^"]*)"', '[A-Za-z0-9.]+', [0-9]+\)$`)

// checkDashboards: every metric of the code's namespace that a dashboard plots
// or searches is emitted, under those dimensions, in this stage; a page size
// graph shows the code's page byte budget.
func checkDashboards(s stack) []string {
	var problems []string
	for _, id := range ofType(s.tpl, "AWS::CloudWatch::Dashboard") {
		var body struct {
			Widgets []struct {
				Properties struct {
					Title       string
					Metrics     [][]any
					Annotations struct{ Horizontal []struct{ Value float64 } }
				}
			}
		}
		if err := json.Unmarshal([]byte(str(s.resource(id)["DashboardBody"])), &body); err != nil {
			problems = append(problems, fmt.Sprintf("%s body is not JSON: %v", id, err))
			continue
		}
		for _, w := range body.Widgets {
			where := fmt.Sprintf("%s widget %q", id, w.Properties.Title)
			for _, entry := range w.Properties.Metrics {
				if o, ok := get(entry, 0).(obj); ok {
					expr := str(o["expression"])
					if !strings.Contains(expr, metrics.Namespace) {
						continue
					}
					m := searchRE.FindStringSubmatch(expr)
					if m == nil {
						problems = append(problems, fmt.Sprintf(`%s: %q is not SEARCH('{%s,...} MetricName="..." Stage="..."', ...)`, where, expr, metrics.Namespace))
						continue
					}
					dims := map[string]string{}
					for _, d := range strings.Split(m[1], ",") {
						dims[d] = m[3]
					}
					problems = append(problems, checkMetric(s, where, m[2], dims)...)
					continue
				}
				var parts []string
				for _, e := range entry {
					if p, ok := e.(string); ok {
						parts = append(parts, p)
					}
				}
				if len(parts) == 0 || parts[0] != metrics.Namespace {
					continue
				}
				if len(parts)%2 != 0 || slices.Contains(parts, ".") {
					problems = append(problems, fmt.Sprintf("%s: %v is not namespace, name and dimension pairs written out", where, entry))
					continue
				}
				dims := map[string]string{}
				for i := 2; i < len(parts); i += 2 {
					dims[parts[i]] = parts[i+1]
				}
				problems = append(problems, checkMetric(s, where, parts[1], dims)...)
				budget := slices.ContainsFunc(w.Properties.Annotations.Horizontal, func(a struct{ Value float64 }) bool {
					return a.Value == api.MaxResponseBytes
				})
				if parts[1] == api.MetricResponseBytes.Name && !budget {
					problems = append(problems, fmt.Sprintf("%s: %s without the page byte budget %d as an annotation", where, parts[1], api.MaxResponseBytes))
				}
			}
		}
	}
	return problems
}

// checkAlarms: every alarm on the code's namespace, single metric or metric
// math, watches a metric the code emits, under those dimensions, in this stage.
func checkAlarms(s stack) []string {
	var problems []string
	for _, id := range ofType(s.tpl, "AWS::CloudWatch::Alarm") {
		p := s.resource(id)
		watched := []any{p}
		for _, q := range asList(p["Metrics"]) {
			watched = append(watched, get(q, "MetricStat", "Metric"))
		}
		for _, m := range watched {
			if get(m, "Namespace") != metrics.Namespace {
				continue
			}
			dims := map[string]string{}
			for _, d := range asList(get(m, "Dimensions")) {
				dims[str(get(d, "Name"))] = fmt.Sprint(get(d, "Value"))
			}
			problems = append(problems, checkMetric(s, "alarm "+id, str(get(m, "MetricName")), dims)...)
		}
	}
	return problems
}

// TestDashboardAndAlarmsNameEmittedMetrics: a metric name or dimension set the
// code does not emit deploys fine and shows an empty graph or an alarm that
// never fires; only the code's directives tell.
func TestDashboardAndAlarmsNameEmittedMetrics(t *testing.T) {
	t.Parallel()
	checkFiles(t, forEachStage(func(s stack) []string {
		return append(checkDashboards(s), checkAlarms(s)...)
	}), []edit{
		{"dashboard metric typo", `"ReadPathLabelIndex"`, `"ReadPathIndex"`},
		{"dashboard dimension the code does not emit", `["VipMessages", "Latency", "Stage", "${Stage}", {"stat": "p50"`,
			`["VipMessages", "Latency", "Reason", "x", "Stage", "${Stage}", {"stat": "p50"`},
		{"dashboard on another stage", `["VipMessages", "Status2xx", "Stage", "${Stage}", {"label": "2xx"}]`,
			`["VipMessages", "Status2xx", "Stage", "prod", {"label": "2xx"}]`},
		{"SEARCH metric typo", `MetricName=\"AuthFailures\"`, `MetricName=\"AuthFailure\"`},
		{"SEARCH on dimensions the code does not emit", `{VipMessages,Reason,Stage}`, `{VipMessages,Stage,ApiKeyId}`},
		{"page size without its budget", `"value": 5242880`, `"value": 6291456`},
		{"alarm metric typo", "MetricName: IndexLag\n", "MetricName: IndexLagMs\n"},
		{"alarm math metric typo", "MetricName: Status5xx", "MetricName: Status5XX"},
		{"alarm on another stage", "Namespace: VipMessages\n      MetricName: Latency\n      Dimensions:\n        - Name: Stage\n          Value: !Ref Stage",
			"Namespace: VipMessages\n      MetricName: Latency\n      Dimensions:\n        - Name: Stage\n          Value: prod"},
	})
}
