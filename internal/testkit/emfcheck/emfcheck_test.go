package emfcheck_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/testkit/emfcheck"
)

// doc is a document with one directive; the arguments replace its parts.
func doc(aws, members string) string {
	return `{"msg":"request",` + members + `,"_aws":` + aws + `}`
}

const (
	goodAWS     = `{"Timestamp":1780315200000,"CloudWatchMetrics":[{"Namespace":"VipMessages","Dimensions":[["Stage"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"}]}]}`
	goodMembers = `"Stage":"prod","Latency":12.5`
)

// The checker accepts a valid document and rejects each way of breaking the
// specification that CloudWatch would drop a document for.
func TestParse(t *testing.T) {
	many := make([]string, 101)
	manyMembers := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf(`{"Name":"M%d","Unit":"Count"}`, i)
		manyMembers[i] = fmt.Sprintf(`"M%d":1`, i)
	}
	tooMany := `{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"VipMessages","Dimensions":[["Stage"]],"Metrics":[` + strings.Join(many, ",") + `]}]}`
	cases := []struct {
		name, line string
		ok         bool
	}{
		{"valid", doc(goodAWS, goodMembers), true},
		{"no timestamp", doc(strings.Replace(goodAWS, `"Timestamp":1780315200000,`, "", 1), goodMembers), false},
		{"timestamp not a number", doc(strings.Replace(goodAWS, `1780315200000`, `"now"`, 1), goodMembers), false},
		{"no namespace", doc(strings.Replace(goodAWS, `"Namespace":"VipMessages",`, "", 1), goodMembers), false},
		{"dimension member missing", doc(goodAWS, `"Latency":12.5`), false},
		{"dimension value not a string", doc(goodAWS, `"Stage":3,"Latency":12.5`), false},
		{"dimension value not ASCII", doc(goodAWS, `"Stage":"pr\u00f6d","Latency":12.5`), false},
		{"metric member missing", doc(goodAWS, `"Stage":"prod"`), false},
		{"metric not a number", doc(goodAWS, `"Stage":"prod","Latency":"12.5"`), false},
		{"unknown unit", doc(strings.Replace(goodAWS, `Milliseconds`, `Millis`, 1), goodMembers), false},
		{"unknown member of _aws", doc(strings.Replace(goodAWS, `"Timestamp"`, `"Extra":1,"Timestamp"`, 1), goodMembers), false},
		{"101 metrics", doc(tooMany, `"Stage":"prod",`+strings.Join(manyMembers, ",")), false},
		{"data after the object", doc(goodAWS, goodMembers) + ` trailing`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, isDoc, err := emfcheck.Parse([]byte(c.line))
			if (err == nil) != c.ok {
				t.Fatalf("err %v, want ok %v", err, c.ok)
			}
			if c.ok && (!isDoc || d.Metrics["Latency"].Value != 12.5 || d.Dimension("Stage") != "prod") {
				t.Fatalf("doc %+v", d)
			}
		})
	}
	if _, isDoc, err := emfcheck.Parse([]byte(`{"msg":"plain"}`)); isDoc || err != nil {
		t.Fatalf("a line without _aws: doc %v, err %v", isDoc, err)
	}
}
