package deploy_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/vip-messages/api/internal/table"
)

// The label indexer: a function on the table's stream (internal/labelindex).
const (
	indexerID = "LabelIndexerFunction"
	esmID     = "LabelIndexerStream"
	dlqID     = "LabelIndexerDLQ"
)

var (
	ixProps  = []any{"Resources", indexerID, "Properties"}
	ixEnv    = at(ixProps, "Environment", "Variables")
	ixStmts  = at(ixProps, "Policies", 0, "Statement")
	esmProps = []any{"Resources", esmID, "Properties"}
)

func init() {
	templateChecks = append(templateChecks, []struct {
		name   string
		check  func(obj) []string
		breaks []mutation
	}{
		{"IndexerPlatform", func(tpl obj) []string { return checkPlatformOf(tpl, indexerID) }, []mutation{
			set("x86_64", []any{"x86_64"}, at(ixProps, "Architectures")...),
			set("old runtime", "provided.al2", at(ixProps, "Runtime")...),
			set("not built by make", deleted, "Resources", indexerID, "Metadata"),
			set("no timeout", deleted, at(ixProps, "Timeout")...),
			set("default log group", deleted, at(ixProps, "LoggingConfig")...),
			set("log group kept forever", deleted, "Resources", "LabelIndexerLogGroup", "Properties", "RetentionInDays"),
		}},
		{"IndexerEnvironment", checkIndexerEnv, []mutation{
			set("no TABLE_NAME", deleted, at(glEnv, "TABLE_NAME")...),
			set("table by name", "vip-messages-dev", at(ixEnv, "TABLE_NAME")...),
			set("bad log level", "verbose", at(ixEnv, "LOG_LEVEL")...),
		}},
		{"IndexerLeastPrivilege", checkIndexerIAM, []mutation{
			set("wildcard action", "dynamodb:*", at(ixStmts, 0, "Action", 0)...),
			set("reads the table too", []any{"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Query"}, at(ixStmts, 0, "Action")...),
			set("updates items", []any{"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"}, at(ixStmts, 0, "Action")...),
			set("writes every table", "*", at(ixStmts, 0, "Resource")...),
			set("writes the table's indexes", obj{"Fn::Sub": "${MessagesTable.Arn}/*"}, at(ixStmts, 0, "Resource")...),
			set("stream read on every stream", "*", at(ixStmts, 1, "Resource")...),
			set("stream read granted on the table", obj{"Fn::GetAtt": []any{tableID, "Arn"}}, at(ixStmts, 1, "Resource")...),
			set("no stream read", deleted, at(ixStmts, 1)...),
			set("cannot report to its DLQ", deleted, at(ixStmts, 3)...),
			set("sends to any queue", "*", at(ixStmts, 3, "Resource")...),
			set("ListStreams scoped to the stream (grants nothing)", []any{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}, at(ixStmts, 1, "Action")...),
			set("no ListStreams", deleted, at(ixStmts, 2)...),
			set("stream reads on every stream with ListStreams", []any{"dynamodb:ListStreams", "dynamodb:GetRecords"}, at(ixStmts, 2, "Action")...),
			set("ListStreams on the table", obj{"Fn::GetAtt": []any{tableID, "Arn"}}, at(ixStmts, 2, "Resource")...),
			set("customer key used on another key", "arn:aws:kms:us-east-1:123456789012:key/other", at(ixStmts, 4, "Fn::If", 1, "Resource")...),
			set("SAM DynamoDB event (AWSLambdaDynamoDBExecutionRole on every stream)", obj{"Stream": obj{
				"Type": "DynamoDB", "Properties": obj{"Stream": obj{"Fn::GetAtt": []any{tableID, "StreamArn"}}, "StartingPosition": "TRIM_HORIZON"},
			}}, at(ixProps, "Events")...),
			set("SAM policy template", []any{obj{"DynamoDBCrudPolicy": obj{"TableName": obj{"Ref": tableID}}}}, at(ixProps, "Policies")...),
			set("own role", "arn:aws:iam::123456789012:role/admin", at(ixProps, "Role")...),
			set("writes any item (no condition)", deleted, at(ixStmts, 0, "Condition")...),
			set("writes message partitions too", []any{"LBL#*", "MSG#*"}, at(ixStmts, 0, "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys")...),
			set("writes any partition", []any{"*"}, at(ixStmts, 0, "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys")...),
			set("prefix without the separator", []any{"LBL*"}, at(ixStmts, 0, "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys")...),
			set("ForAnyValue (one LBL# key lets a batch write others)", obj{
				"ForAnyValue:StringLike": obj{"dynamodb:LeadingKeys": []any{"LBL#*"}},
				"Null":                   obj{"dynamodb:LeadingKeys": "false"},
			}, at(ixStmts, 0, "Condition")...),
			set("StringEquals (the * is literal: nothing matches)", obj{
				"ForAllValues:StringEquals": obj{"dynamodb:LeadingKeys": []any{"LBL#*"}},
				"Null":                      obj{"dynamodb:LeadingKeys": "false"},
			}, at(ixStmts, 0, "Condition")...),
			set("no Null check (ForAllValues holds on a request without keys)", deleted, at(ixStmts, 0, "Condition", "Null")...),
			set("Null true", "true", at(ixStmts, 0, "Condition", "Null", "dynamodb:LeadingKeys")...),
			set("condition on the stream read only", obj{"Null": obj{"dynamodb:LeadingKeys": "false"}}, at(ixStmts, 1, "Condition")...),
		}},
		{"IndexerStreamMapping", checkIndexerMapping, []mutation{
			set("no mapping", deleted, "Resources", esmID),
			set("another function", obj{"Ref": functionID}, at(esmProps, "FunctionName")...),
			set("not the table's stream", obj{"Fn::GetAtt": []any{tableID, "Arn"}}, at(esmProps, "EventSourceArn")...),
			set("no batch failures", deleted, at(esmProps, "FunctionResponseTypes")...),
			set("no bisection", false, at(esmProps, "BisectBatchOnFunctionError")...),
			set("infinite retries", -1, at(esmProps, "MaximumRetryAttempts")...),
			set("no retry limit", deleted, at(esmProps, "MaximumRetryAttempts")...),
			set("no on-failure destination", deleted, at(esmProps, "DestinationConfig")...),
			set("destination not a queue", obj{"Fn::GetAtt": []any{tableID, "Arn"}}, at(esmProps, "DestinationConfig", "OnFailure", "Destination")...),
			set("no filter", deleted, at(esmProps, "FilterCriteria")...),
			set("filter on another prefix", `{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"LBL#"}]}}}}`, at(esmProps, "FilterCriteria", "Filters", 0, "Pattern")...),
			set("filter lets every record through", `{"dynamodb":{"Keys":{"pk":{"S":[{"exists":true}]}}}}`, at(esmProps, "FilterCriteria", "Filters", 0, "Pattern")...),
			set("filter not JSON", `{"dynamodb":`, at(esmProps, "FilterCriteria", "Filters", 0, "Pattern")...),
			set("starts at LATEST", "LATEST", at(esmProps, "StartingPosition")...),
			set("huge batches", 10001, at(esmProps, "BatchSize")...),
		}},
		{"IndexerAlarms", checkIndexerAlarms, []mutation{
			set("no iterator age alarm", deleted, "Resources", "LabelIndexerIteratorAgeAlarm"),
			set("iterator age of the API function", []any{obj{"Name": "FunctionName", "Value": obj{"Ref": functionID}}}, "Resources", "LabelIndexerIteratorAgeAlarm", "Properties", "Dimensions"),
			set("no DLQ alarm", deleted, "Resources", "LabelIndexerDLQDepthAlarm"),
			set("DLQ alarm on another queue", []any{obj{"Name": "QueueName", "Value": "other"}}, "Resources", "LabelIndexerDLQDepthAlarm", "Properties", "Dimensions"),
		}},
	}...)
}

func checkIndexerEnv(tpl obj) []string {
	var problems []string
	env := asObj(get(functionOf(tpl, indexerID), "Environment", "Variables"))
	if v := env["TABLE_NAME"]; !isRef(v, tableID) {
		problems = append(problems, fmt.Sprintf("indexer TABLE_NAME is %v, want Ref %s", v, tableID))
	}
	if v := env["LOG_LEVEL"]; v != nil {
		for _, lvl := range possibleValues(tpl, v) {
			if !slices.Contains(logLevels, lvl) {
				problems = append(problems, fmt.Sprintf("indexer LOG_LEVEL can be %q, not one of %v", lvl, logLevels))
			}
		}
	}
	return problems
}

// indexerActions is everything the indexer may do: write index items, read the
// table's stream (what the event source mapping needs of the role), and send a
// failed batch's description to its dead-letter queue.
var indexerActions = map[string]string{
	"dynamodb:PutItem":          "table",
	"dynamodb:DeleteItem":       "table",
	"dynamodb:BatchWriteItem":   "table",
	"dynamodb:DescribeStream":   "stream",
	"dynamodb:GetRecords":       "stream",
	"dynamodb:GetShardIterator": "stream",
	"dynamodb:ListStreams":      anyResource,
	"kms:Decrypt":               "tablekey",
	"kms:GenerateDataKey":       "tablekey",
	"sqs:SendMessage":           "dlq",
}

func checkIndexerIAM(tpl obj) []string {
	var problems []string
	if ev := get(tpl, at(ixProps, "Events")...); ev != nil {
		problems = append(problems, fmt.Sprintf("indexer has SAM Events %v: a DynamoDB event attaches AWSLambdaDynamoDBExecutionRole (every stream); use the %s mapping", ev, esmID))
	}
	// Every statement granting a table action may touch label index items only.
	// A DynamoDB action not in indexerActions counts as a table action.
	isTable := func(a string) bool {
		kind, known := indexerActions[a]
		return kind == "table" || !known && strings.HasPrefix(a, "dynamodb:")
	}
	for i, st := range asList(get(tpl, ixStmts...)) {
		actions, _ := stringsOf(get(st, "Action"))
		table := slices.ContainsFunc(actions, isTable)
		if table && !isIndexWriteCondition(get(st, "Condition")) {
			problems = append(problems, fmt.Sprintf("%s statement %d (%v) has Condition %v, want %v", indexerID, i, actions, get(st, "Condition"), indexWriteCondition))
		} else if !table && get(st, "Condition") != nil {
			problems = append(problems, fmt.Sprintf("%s statement %d (%v) has an unexpected Condition %v", indexerID, i, actions, get(st, "Condition")))
		}
	}
	return append(problems, checkPolicies(tpl, indexerID, indexerActions, func(kind string, r any) string {
		switch kind {
		case "table":
			if !isGetAtt(r, tableID, "Arn") {
				return fmt.Sprintf("Resource %v is not exactly !GetAtt %s.Arn", r, tableID)
			}
		case "stream":
			if !isGetAtt(r, tableID, "StreamArn") {
				return fmt.Sprintf("Resource %v is not exactly !GetAtt %s.StreamArn", r, tableID)
			}
		case "tablekey":
			if !isRef(r, "TableKmsKeyArn") {
				return fmt.Sprintf("Resource %v is not exactly Ref TableKmsKeyArn", r)
			}
		case "dlq":
			if !isGetAtt(r, dlqID, "Arn") {
				return fmt.Sprintf("Resource %v is not exactly !GetAtt %s.Arn", r, dlqID)
			}
		}
		return ""
	})...)
}

// indexWriteCondition confines the indexer's writes to label index
// partitions: every key of a request (ForAllValues) begins with LBL#, and the
// request has keys (ForAllValues alone holds when it has none).
var indexWriteCondition = obj{
	"ForAllValues:StringLike": obj{"dynamodb:LeadingKeys": []any{table.LabelPKPrefix + "*"}},
	"Null":                    obj{"dynamodb:LeadingKeys": "false"},
}

// isIndexWriteCondition reports whether c is indexWriteCondition, a single
// value written as a string or a list of one.
func isIndexWriteCondition(c any) bool {
	norm := func(v any) any {
		if l := asList(v); len(l) == 1 {
			return l[0]
		}
		if b, ok := v.(bool); ok {
			return fmt.Sprint(b)
		}
		return v
	}
	m := asObj(c)
	if len(m) != len(indexWriteCondition) {
		return false
	}
	for op, want := range indexWriteCondition {
		got := asObj(m[op])
		if len(got) != len(asObj(want)) {
			return false
		}
		for k, v := range asObj(want) {
			if !reflect.DeepEqual(norm(got[k]), norm(v)) {
				return false
			}
		}
	}
	return true
}

// wantFilter is the only stream records the indexer gets: message items.
var wantFilter = map[string]any{"dynamodb": map[string]any{"Keys": map[string]any{
	table.PartitionKeyAttr: map[string]any{"S": []any{map[string]any{"prefix": table.MessagePKPrefix}}},
}}}

func checkIndexerMapping(tpl obj) []string {
	var problems []string
	if ids := resourcesOfType(tpl, "AWS::Lambda::EventSourceMapping"); !reflect.DeepEqual(ids, []string{esmID}) {
		return []string{fmt.Sprintf("want one event source mapping %s, got %v", esmID, ids)}
	}
	p := get(tpl, esmProps...)
	expect := func(what string, ok bool, got any) {
		if !ok {
			problems = append(problems, fmt.Sprintf("%s %s is %v", esmID, what, got))
		}
	}
	fn := get(p, "FunctionName")
	expect("FunctionName (want Ref or !GetAtt .Arn of "+indexerID+")", isRef(fn, indexerID) || isGetAtt(fn, indexerID, "Arn"), fn)
	expect("EventSourceArn (want !GetAtt MessagesTable.StreamArn)", isGetAtt(get(p, "EventSourceArn"), tableID, "StreamArn"), get(p, "EventSourceArn"))
	expect("StartingPosition (want TRIM_HORIZON: nothing on the stream is skipped)", get(p, "StartingPosition") == "TRIM_HORIZON", get(p, "StartingPosition"))
	bs, _ := get(p, "BatchSize").(int)
	expect("BatchSize (want 1-1000)", bs >= 1 && bs <= 1000, get(p, "BatchSize"))
	expect("BisectBatchOnFunctionError", get(p, "BisectBatchOnFunctionError") == true, get(p, "BisectBatchOnFunctionError"))
	retries, ok := get(p, "MaximumRetryAttempts").(int)
	expect("MaximumRetryAttempts (want a finite 0-10000)", ok && retries >= 0 && retries <= 10000, get(p, "MaximumRetryAttempts"))
	types, _ := stringsOf(get(p, "FunctionResponseTypes"))
	expect("FunctionResponseTypes (want ReportBatchItemFailures)", slices.Contains(types, "ReportBatchItemFailures"), types)
	dest := get(p, "DestinationConfig", "OnFailure", "Destination")
	expect("on-failure destination (want !GetAtt "+dlqID+".Arn)", isGetAtt(dest, dlqID, "Arn") &&
		str(get(tpl, "Resources", dlqID, "Type")) == "AWS::SQS::Queue", dest)
	filters := asList(get(p, "FilterCriteria", "Filters"))
	var got []any
	for _, f := range filters {
		var pat any
		if err := json.Unmarshal([]byte(str(get(f, "Pattern"))), &pat); err != nil {
			problems = append(problems, fmt.Sprintf("%s filter pattern is not JSON: %v", esmID, err))
			continue
		}
		got = append(got, pat)
	}
	expect(fmt.Sprintf("FilterCriteria (want exactly %v)", wantFilter), len(got) == 1 && reflect.DeepEqual(got[0], any(wantFilter)), got)
	return problems
}

func checkIndexerAlarms(tpl obj) []string {
	var problems []string
	find := func(ns, name string, dims map[string]any) bool {
		for _, id := range resourcesOfType(tpl, "AWS::CloudWatch::Alarm") {
			a := get(tpl, "Resources", id, "Properties")
			got := map[string]any{}
			for _, d := range asList(get(a, "Dimensions")) {
				got[str(get(d, "Name"))] = get(d, "Value")
			}
			if get(a, "Namespace") == ns && get(a, "MetricName") == name && reflect.DeepEqual(got, dims) {
				return true
			}
		}
		return false
	}
	if !find("AWS/Lambda", "IteratorAge", map[string]any{"FunctionName": obj{"Ref": indexerID}}) {
		problems = append(problems, "no alarm on the indexer's IteratorAge (how stale the label index is)")
	}
	if !find("AWS/SQS", "ApproximateNumberOfMessagesVisible", map[string]any{"QueueName": obj{"Fn::GetAtt": []any{dlqID, "QueueName"}}}) {
		problems = append(problems, "no alarm on the depth of "+dlqID)
	}
	return problems
}
