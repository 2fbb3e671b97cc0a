package deploy_test

import (
	"fmt"
	"testing"

	"github.com/vip-messages/api/internal/app"
)

const tableID = "MessagesTable"

// config is what a function makes of its environment, by the code's own parser.
type config struct{ table, stage, secretPrefix string }

// parsers are the functions configured by internal/app, by logical id.
var parsers = map[string]func(getenv func(string) string) (config, error){
	"VipMessagesFunction": func(getenv func(string) string) (config, error) {
		c, err := app.FromEnv(getenv)
		return config{c.Table, c.Stage, c.SecretPrefix}, err
	},
	"LabelIndexerFunction": func(getenv func(string) string) (config, error) {
		c, err := app.IndexerFromEnv(getenv)
		return config{table: c.Table, stage: c.Stage}, err
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
			if c.table != "<"+tableID+">" {
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
