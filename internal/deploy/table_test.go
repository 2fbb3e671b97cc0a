package deploy_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/vip-messages/api/internal/table"
)

// checkTable: the table's keys are the attributes the code builds every key
// with (both strings, HASH then RANGE, no others declared); its stream carries
// the old and new images the indexer compares; and the indexer's event source
// mapping lets through exactly the message items, by their key prefix.
func checkTable(s stack) []string {
	var problems []string
	props := s.resource(tableID)
	want := []any{
		obj{"AttributeName": table.PartitionKeyAttr, "KeyType": "HASH"},
		obj{"AttributeName": table.SortKeyAttr, "KeyType": "RANGE"},
	}
	if got := props["KeySchema"]; !reflect.DeepEqual(got, want) {
		problems = append(problems, fmt.Sprintf("%s KeySchema is %v, the code's keys are %v", tableID, got, want))
	}
	wantDefs := []any{
		obj{"AttributeName": table.PartitionKeyAttr, "AttributeType": "S"},
		obj{"AttributeName": table.SortKeyAttr, "AttributeType": "S"},
	}
	if got := props["AttributeDefinitions"]; !reflect.DeepEqual(got, wantDefs) {
		problems = append(problems, fmt.Sprintf("%s AttributeDefinitions are %v, want %v", tableID, got, wantDefs))
	}
	if v := get(props, "StreamSpecification", "StreamViewType"); v != "NEW_AND_OLD_IMAGES" {
		problems = append(problems, fmt.Sprintf("%s stream is %v: the indexer compares a message's old and new labels", tableID, v))
	}
	wantFilter := map[string]any{"dynamodb": map[string]any{"Keys": map[string]any{
		table.PartitionKeyAttr: map[string]any{"S": []any{map[string]any{"prefix": table.MessagePKPrefix}}},
	}}}
	mappings := ofType(s.tpl, "AWS::Lambda::EventSourceMapping")
	if len(mappings) == 0 {
		problems = append(problems, "no event source mapping feeds the label indexer")
	}
	for _, id := range mappings {
		p := s.resource(id)
		if p["EventSourceArn"] != "<"+tableID+".StreamArn>" {
			problems = append(problems, fmt.Sprintf("%s reads %v, not the stream of %s", id, p["EventSourceArn"], tableID))
		}
		var got []any
		for _, f := range asList(get(p, "FilterCriteria", "Filters")) {
			var pat any
			if err := json.Unmarshal([]byte(str(get(f, "Pattern"))), &pat); err != nil {
				problems = append(problems, fmt.Sprintf("%s filter pattern is not JSON: %v", id, err))
			}
			got = append(got, pat)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], any(wantFilter)) {
			problems = append(problems, fmt.Sprintf("%s filters %v, want exactly %v (the message items)", id, got, wantFilter))
		}
		problems = append(problems, checkRetries(id, p)...)
	}
	return problems
}

// streamRetention is how long DynamoDB Streams keeps a record.
const streamRetention = 24 * 60 * 60

// checkRetries: the mapping retries a failing record until it is 6-12 h old
// (no retry limit), well below the stream's retention, so that it reaches the
// DLQ while replay-dlq can still re-read it; it bisects a batch on a function
// error, and lets the indexer report the records it did not apply
// (docs/label-index.md, "The event source mapping").
func checkRetries(id string, p obj) []string {
	var problems []string
	num := func(name string) int {
		n, err := strconv.Atoi(fmt.Sprint(p[name]))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s is %v, not a number", id, name, p[name]))
		}
		return n
	}
	if age := num("MaximumRecordAgeInSeconds"); age < 6*3600 || age > 12*3600 || age >= streamRetention {
		problems = append(problems, fmt.Sprintf("%s MaximumRecordAgeInSeconds %d: want 6-12 h, so that a record reaches the DLQ long before the stream trims it", id, age))
	}
	if n := num("MaximumRetryAttempts"); n != -1 {
		problems = append(problems, fmt.Sprintf("%s MaximumRetryAttempts %d: want -1, retries bounded by the record age alone", id, n))
	}
	if p["BisectBatchOnFunctionError"] != true {
		problems = append(problems, fmt.Sprintf("%s does not bisect a batch on a function error", id))
	}
	if !slices.Contains(asList(p["FunctionResponseTypes"]), any("ReportBatchItemFailures")) {
		problems = append(problems, fmt.Sprintf("%s does not let the function report failed records", id))
	}
	if get(p, "DestinationConfig", "OnFailure", "Destination") == nil {
		problems = append(problems, fmt.Sprintf("%s has no on-failure destination: a record given up on would leave no trace", id))
	}
	return problems
}

func TestTableMatchesTheCode(t *testing.T) {
	t.Parallel()
	checkFiles(t, forEachStage(checkTable), []edit{
		{"sort key renamed", "        - AttributeName: sk\n          KeyType: RANGE", "        - AttributeName: SK\n          KeyType: RANGE"},
		{"partition key numeric", "        - AttributeName: pk\n          AttributeType: S", "        - AttributeName: pk\n          AttributeType: N"},
		{"an index attribute", "          AttributeType: S\n      KeySchema:", "          AttributeType: S\n        - AttributeName: gsi1pk\n          AttributeType: S\n      KeySchema:"},
		{"keys-only stream", "StreamViewType: NEW_AND_OLD_IMAGES", "StreamViewType: KEYS_ONLY"},
		{"filter on the label index", `"prefix":"MSG#"`, `"prefix":"LBL#"`},
		{"filter on another attribute", `{"Keys":{"pk":`, `{"Keys":{"PK":`},
		{"no filter", "      FilterCriteria:\n", "      Unfiltered:\n"},
		{"another stream", "EventSourceArn: !GetAtt MessagesTable.StreamArn", "EventSourceArn: !GetAtt MessagesTable.Arn"},
		{"records given up at the stream's retention", "MaximumRecordAgeInSeconds: 28800", "MaximumRecordAgeInSeconds: 86400"},
		{"records given up within minutes", "MaximumRecordAgeInSeconds: 28800", "MaximumRecordAgeInSeconds: 600"},
		{"a retry limit", "MaximumRetryAttempts: -1", "MaximumRetryAttempts: 5"},
		{"no bisection", "BisectBatchOnFunctionError: true", "BisectBatchOnFunctionError: false"},
		{"no partial batch response", "        - ReportBatchItemFailures\n", "        - None\n"},
		{"no on-failure destination", "      DestinationConfig:\n        OnFailure:\n", "      DestinationConfigs:\n        OnFailure:\n"},
	})
}
