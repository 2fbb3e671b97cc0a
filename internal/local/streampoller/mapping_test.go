package streampoller_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/local/streampoller"
	"github.com/vip-messages/api/internal/local/tabledef"
)

func record(pk string) events.DynamoDBEventRecord {
	return events.DynamoDBEventRecord{EventName: "INSERT", Change: events.DynamoDBStreamRecord{
		Keys:     map[string]events.DynamoDBAttributeValue{"pk": events.NewStringAttribute(pk), "sk": events.NewStringAttribute("1")},
		NewImage: map[string]events.DynamoDBAttributeValue{"pk": events.NewStringAttribute(pk), "n": events.NewNumberAttribute("5")},
	}}
}

// The project's template: the values the poller plays are the deployed ones.
func TestFromTemplate(t *testing.T) {
	m, err := streampoller.FromTemplate(tabledef.TemplatePath())
	if err != nil {
		t.Fatal(err)
	}
	if m.Function != "LabelIndexerFunction" || m.BatchSize != 100 || m.BatchingWindow != time.Second ||
		!m.BisectBatchOnFunctionError || m.MaximumRetryAttempts != 5 || !m.ReportBatchItemFailures ||
		m.StartingPosition != "TRIM_HORIZON" || m.Timeout != 60*time.Second {
		t.Fatalf("mapping %+v", m)
	}
	for pk, want := range map[string]bool{"MSG#ws#ch": true, "LBL#ws#ch#x": false, "WS#ws": false, "MSG": false} {
		if got := m.Filter.Match(record(pk)); got != want {
			t.Fatalf("filter on pk %q: %v, want %v", pk, got, want)
		}
	}
}

func TestFromTemplateRejects(t *testing.T) {
	cases := map[string]string{
		"parallel.yaml":         "ParallelizationFactor",
		"anything-but.yaml":     "not supported",
		"two-mappings.yaml":     "found 2",
		"unknown-function.yaml": "not a resource",
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			_, err := streampoller.FromTemplate(filepath.Join("testdata", file))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one saying %q", err, want)
			}
		})
	}
	m, err := streampoller.FromTemplate(filepath.Join("testdata", "globals-timeout.yaml"))
	if err != nil || m.Timeout != 42*time.Second || !m.Filter.Empty() || m.BatchSize != 100 || m.MaximumRetryAttempts != -1 {
		t.Fatalf("Globals timeout and defaults: %+v, %v", m, err)
	}
}

func TestFilter(t *testing.T) {
	cases := []struct {
		name     string
		patterns []string
		pk       string
		want     bool
	}{
		{"no pattern passes all", nil, "WS#x", true},
		{"prefix", []string{`{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"MSG#"}]}}}}`}, "MSG#a", true},
		{"prefix miss", []string{`{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"MSG#"}]}}}}`}, "LBL#MSG#", false},
		{"exact", []string{`{"dynamodb":{"Keys":{"pk":{"S":["WS#x"]}}}}`}, "WS#x", true},
		{"exact miss", []string{`{"dynamodb":{"Keys":{"pk":{"S":["WS#x"]}}}}`}, "WS#xy", false},
		{"patterns are ORed", []string{`{"dynamodb":{"Keys":{"pk":{"S":["A"]}}}}`, `{"eventName":["INSERT"]}`}, "B", true},
		{"fields are ANDed", []string{`{"eventName":["INSERT"],"dynamodb":{"Keys":{"pk":{"S":["A"]}}}}`}, "B", false},
		{"number", []string{`{"dynamodb":{"NewImage":{"n":{"N":["5"]}}}}`}, "x", true},
		{"exists", []string{`{"dynamodb":{"OldImage":[{"exists":false}]}}`}, "x", true},
		{"exists miss", []string{`{"dynamodb":{"NewImage":[{"exists":false}]}}`}, "x", false},
		{"missing field", []string{`{"dynamodb":{"Keys":{"other":{"S":["A"]}}}}`}, "A", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := streampoller.ParseFilter(c.patterns...)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(record(c.pk)); got != c.want {
				t.Fatalf("match %v, want %v", got, c.want)
			}
		})
	}
	for _, bad := range []string{`{"a":["x",{"numeric":[">",1]}]}`, `{"a":"x"}`, `{"a":[]}`, `{}`, `not json`, `{"a":[{"prefix":1}]}`} {
		if _, err := streampoller.ParseFilter(bad); err == nil {
			t.Fatalf("pattern %s accepted", bad)
		}
	}
}
