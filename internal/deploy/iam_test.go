package deploy_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/pretraffic"
	"github.com/vip-messages/api/internal/table"
)

// Each function's role against its code: every action granted is one the code
// calls or one AWS takes on the function's behalf, and every call is granted.
// Where a grant's scope is something the code decides (the table it is given,
// the secret names it reads, the partitions it writes), it is that scope.

// writes are the table partitions a function's code writes, by key prefix,
// with the actions it takes on each: the indexer puts and deletes label index
// items, and in the same transactions puts and deletes presence markers and
// updates counters (labelindex, counters.go).
var writes = map[string]map[string][]string{"LabelIndexerFunction": {
	table.LabelPKPrefix:   {"dynamodb:PutItem", "dynamodb:DeleteItem"},
	table.CounterPKPrefix: {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"},
}}

// reads are the table partitions a function's code reads, by key prefix, where
// its role confines them.
var reads = map[string]string{"LabelIndexerFunction": table.MessagePKPrefix}

var tableReads = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"}

var tableWrites = []string{"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:TransactWriteItems"}

// statements are a function's inline policy statements, both branches of
// every Fn::If included; a policy of any other kind is a problem, since what it
// grants is not in the template.
func statements(tpl obj, id string) (out []obj, problems []string) {
	props := functionProps(tpl, id)
	if props["Role"] != nil {
		problems = append(problems, id+" has a Role of its own, which this check cannot see into")
	}
	for _, p := range asList(props["Policies"]) {
		if get(p, "Statement") == nil {
			problems = append(problems, fmt.Sprintf("%s has the policy %v, not an inline Statement list", id, p))
		}
		walk(get(p, "Statement"), func(m obj) {
			if m["Effect"] != nil {
				out = append(out, m)
			}
		})
	}
	return out, problems
}

// onBehalf are the actions AWS takes with a function's role: its event source
// mapping reads a table stream and sends what fails to a queue, and a
// customer-managed table key needs KMS for every read and write of the table.
func onBehalf(tpl obj, id string, calls map[string]bool) map[string]bool {
	out := map[string]bool{}
	ddb := false
	for a := range calls {
		ddb = ddb || strings.HasPrefix(a, "dynamodb:")
		if slices.Contains(tableWrites, a) {
			out["kms:GenerateDataKey"] = true
		}
	}
	for _, esm := range ofType(tpl, "AWS::Lambda::EventSourceMapping") {
		p := get(tpl, "Resources", esm, "Properties")
		if fn := get(p, "FunctionName"); get(fn, "Ref") != id && str(get(fn, "Fn::GetAtt", 0)) != id {
			continue
		}
		if get(p, "EventSourceArn", "Fn::GetAtt", 1) == "StreamArn" {
			ddb = true
			for _, a := range []string{"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"} {
				out["dynamodb:"+a] = true
			}
		}
		if q := str(get(p, "DestinationConfig", "OnFailure", "Destination", "Fn::GetAtt", 0)); get(tpl, "Resources", q, "Type") == "AWS::SQS::Queue" {
			out["sqs:SendMessage"] = true
		}
	}
	if ddb {
		out["kms:Decrypt"] = true
	}
	return out
}

func checkGrants(f files, calls map[string]map[string]bool) []string {
	all, err := stacks(f)
	if err != nil {
		return []string{err.Error()}
	}
	tpl := all[0].tpl
	var problems []string
	for _, id := range ofType(tpl, "AWS::Serverless::Function") {
		stmts, ps := statements(tpl, id)
		problems = append(problems, ps...)
		granted := map[string]bool{}
		for _, st := range stmts {
			for _, a := range strs(st["Action"]) {
				granted[a] = true
			}
			if st["NotAction"] != nil || st["NotResource"] != nil {
				problems = append(problems, fmt.Sprintf("%s: a statement with NotAction or NotResource grants what no list shows", id))
			}
		}
		code, ok := calls[id]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: no package builds it (Makefile)", id))
			continue
		}
		aws := onBehalf(tpl, id, code)
		for a := range granted {
			if !code[a] && !aws[a] {
				problems = append(problems, fmt.Sprintf("%s is granted %s, which its code never calls", id, a))
			}
		}
		for a := range code {
			if !granted[a] {
				problems = append(problems, fmt.Sprintf("%s calls %s, which its role is not granted", id, a))
			}
		}
		for _, s := range all {
			problems = append(problems, checkScopes(s, id, code)...)
		}
	}
	return problems
}

// checkScopes checks, in one stage, the resources of the grants whose scope the
// code decides.
func checkScopes(s stack, id string, code map[string]bool) []string {
	var c config
	if _, ok := parsers[id]; ok {
		var err error
		if c, err = functionConfig(s, id); err != nil {
			return nil // TestFunctionsAcceptTheirEnvironment reports it
		}
	}
	var problems []string
	walk(get(s.resource(id), "Policies"), func(st obj) {
		actions, resources := strs(st["Action"]), strs(st["Resource"])
		for _, a := range actions {
			var want string
			switch {
			case a == "secretsmanager:GetSecretValue" && id == hookFunction:
				// The canary key alone; an ARN ends in "-" and 6 random characters.
				prefix := fmt.Sprint(get(s.resource(id), "Environment", "Variables", "SECRET_PREFIX"))
				want = "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + auth.SecretName(prefix, pretraffic.CanaryKeyID) + "-??????"
			case a == "secretsmanager:GetSecretValue":
				want = "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + auth.SecretName(c.secretPrefix, "*")
			case code[a] && strings.HasPrefix(a, "dynamodb:"):
				want = strings.TrimSuffix(c.table, ">") + ".Arn>"
			default:
				continue
			}
			if !slices.Equal(resources, []string{want}) {
				problems = append(problems, fmt.Sprintf("%s: %s on %v, want %s: what the code reads", id, a, resources, want))
			}
		}
		if p := reads[id]; p != "" && slices.ContainsFunc(actions, func(a string) bool { return slices.Contains(tableReads, a) }) {
			want := obj{
				"ForAllValues:StringLike": obj{"dynamodb:LeadingKeys": []any{p + "*"}},
				"Null":                    obj{"dynamodb:LeadingKeys": "false"},
			}
			if !reflect.DeepEqual(st["Condition"], want) {
				problems = append(problems, fmt.Sprintf("%s reads the table under Condition %v, want %v (only the partitions the code reads)", id, st["Condition"], want))
			}
		}
		if slices.ContainsFunc(actions, func(a string) bool { return slices.Contains(tableWrites, a) }) {
			var prefix string
			for p := range writes[id] {
				want := obj{
					"ForAllValues:StringLike": obj{"dynamodb:LeadingKeys": []any{p + "*"}},
					"Null":                    obj{"dynamodb:LeadingKeys": "false"},
				}
				if reflect.DeepEqual(st["Condition"], want) {
					prefix = p
				}
			}
			if prefix == "" {
				problems = append(problems, fmt.Sprintf("%s writes the table under Condition %v, want the keys of a request all in one of the partitions the code writes (%v)", id, st["Condition"], writes[id]))
			}
			for _, a := range actions {
				if prefix != "" && !slices.Contains(writes[id][prefix], a) {
					problems = append(problems, fmt.Sprintf("%s may %s in %s partitions, where its code does not", id, a, prefix))
				}
			}
		}
	})
	return problems
}

// TestGrantsAreTheCodesCalls: a grant no code needs stays forever unless a test
// knows the calls; a call never granted fails only once deployed.
func TestGrantsAreTheCodesCalls(t *testing.T) {
	t.Parallel()
	tpl, err := parseYAML(readFile(t, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]map[string]bool{}
	for id, b := range functionBuilds(t, readFile(t, "Makefile"), tpl) {
		if b.pkg != "" {
			calls[id] = awsCalls(t, b.pkg)
		}
	}
	checkFiles(t, func(f files) []string { return checkGrants(f, calls) }, []edit{
		{"an action no code calls", "- dynamodb:BatchGetItem\n", "- dynamodb:BatchGetItem\n                - dynamodb:GetItem\n"},
		{"a call not granted", "                - dynamodb:BatchGetItem\n", ""},
		{"a wildcard action", "- dynamodb:PutItem\n", "- dynamodb:*\n"},
		{"the indexer queries messages", "- dynamodb:DeleteItem\n", "- dynamodb:DeleteItem\n                - dynamodb:Query\n"},
		{"the indexer reads label partitions", `- "MSG#*"`, `- "LBL#*"`},
		{"the hook deploys", "- codedeploy:PutLifecycleEventHookExecutionStatus\n", "- codedeploy:PutLifecycleEventHookExecutionStatus\n                - codedeploy:CreateDeployment\n"},
		{"a SAM policy template", "      Policies:\n        - Version", "      Policies:\n        - DynamoDBCrudPolicy: {TableName: !Ref MessagesTable}\n        - Version"},
		{"secrets of another prefix", `secret:${Prefix}/*"`, `secret:vip-api/*"`},
		{"the hook reads every key", `${Prefix}/canary-pre-traffic-hook-??????"`, `${Prefix}/*"`},
		{"the hook reads another secret", `${Prefix}/canary-pre-traffic-hook-??????"`, `${Prefix}/canary-??????"`},
		{"another table", "- dynamodb:BatchGetItem\n              Resource: !GetAtt MessagesTable.Arn", "- dynamodb:BatchGetItem\n              Resource: !Sub ${MessagesTable.Arn}/index/*"},
		{"the indexer writes message partitions", `- "LBL#*"`, `- "MSG#*"`},
		{"the indexer writes without keys", `"Null":`, `"NotNull":`},
		{"the indexer updates index items", "                - dynamodb:DeleteItem\n              Resource: !GetAtt MessagesTable.Arn\n              Condition:\n                ForAllValues:StringLike:\n                  dynamodb:LeadingKeys:\n                    - \"LBL#*\"",
			"                - dynamodb:DeleteItem\n                - dynamodb:UpdateItem\n              Resource: !GetAtt MessagesTable.Arn\n              Condition:\n                ForAllValues:StringLike:\n                  dynamodb:LeadingKeys:\n                    - \"LBL#*\""},
		{"the indexer cannot update counters", "                - dynamodb:UpdateItem\n", ""},
	})
}
