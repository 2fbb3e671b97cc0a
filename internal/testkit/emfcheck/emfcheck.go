// Package emfcheck parses a log line as a CloudWatch Embedded Metric Format
// document and checks it against the format's specification, the way
// CloudWatch Logs would before extracting metrics. Tests use it; production
// code writes documents with internal/metrics.
package emfcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Metric is one extracted metric: its value, unit and dimension sets.
type Metric struct {
	Namespace  string
	Name       string
	Unit       string
	Value      float64
	Dimensions [][]string
}

// Doc is a checked document.
type Doc struct {
	Timestamp int64
	// Metrics by name.
	Metrics map[string]Metric
	// Members are the document's top-level members, _aws included.
	Members map[string]any
}

// Dimension returns a top-level string member (a dimension value).
func (d Doc) Dimension(name string) string {
	s, _ := d.Members[name].(string)
	return s
}

// Names are the metric names of the document, in no order.
func (d Doc) Names() []string {
	out := make([]string, 0, len(d.Metrics))
	for n := range d.Metrics {
		out = append(out, n)
	}
	return out
}

// Limits of the specification and of CloudWatch.
const (
	maxMetrics    = 100
	maxDimensions = 30
	maxValues     = 100
)

// Parse checks line and returns its document. A line without an _aws member
// is not a document: ok is false and err nil.
func Parse(line []byte) (doc Doc, ok bool, err error) {
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&members); err != nil {
		return Doc{}, false, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return Doc{}, false, errors.New("data after the JSON object")
	}
	raw, found := members["_aws"]
	if !found {
		return Doc{}, false, nil
	}
	var aws struct {
		Timestamp         *json.Number
		CloudWatchMetrics *[]struct {
			Namespace  *string
			Dimensions *[][]string
			Metrics    *[]struct {
				Name *string
				Unit string
			}
		}
	}
	if err := strictDecode(raw, &aws); err != nil {
		return Doc{}, true, fmt.Errorf("_aws: %w", err)
	}
	if aws.Timestamp == nil || aws.CloudWatchMetrics == nil {
		return Doc{}, true, errors.New("_aws needs Timestamp and CloudWatchMetrics")
	}
	ts, err := aws.Timestamp.Int64()
	if err != nil || ts <= 0 {
		return Doc{}, true, fmt.Errorf("_aws.Timestamp %v is not epoch milliseconds", aws.Timestamp)
	}
	doc = Doc{Timestamp: ts, Metrics: map[string]Metric{}, Members: map[string]any{}}
	for k, v := range members {
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return Doc{}, true, err
		}
		doc.Members[k] = x
	}
	for i, d := range *aws.CloudWatchMetrics {
		where := fmt.Sprintf("CloudWatchMetrics[%d]", i)
		if d.Namespace == nil || *d.Namespace == "" || len(*d.Namespace) > 255 {
			return Doc{}, true, fmt.Errorf("%s: Namespace must be 1-255 characters", where)
		}
		if d.Dimensions == nil || d.Metrics == nil {
			return Doc{}, true, fmt.Errorf("%s: Dimensions and Metrics are required", where)
		}
		for _, set := range *d.Dimensions {
			if len(set) > maxDimensions {
				return Doc{}, true, fmt.Errorf("%s: a dimension set of %d > %d", where, len(set), maxDimensions)
			}
			for _, name := range set {
				v, isString := doc.Members[name].(string)
				if !isString || !validDimensionValue(v) {
					return Doc{}, true, fmt.Errorf("%s: dimension %q has no non-empty ASCII string member (%v)", where, name, doc.Members[name])
				}
			}
		}
		if len(*d.Metrics) > maxMetrics {
			return Doc{}, true, fmt.Errorf("%s: %d metrics > %d", where, len(*d.Metrics), maxMetrics)
		}
		for _, m := range *d.Metrics {
			if m.Name == nil || *m.Name == "" || len(*m.Name) > 1024 {
				return Doc{}, true, fmt.Errorf("%s: metric without a name", where)
			}
			if m.Unit != "" && !units[m.Unit] {
				return Doc{}, true, fmt.Errorf("%s: metric %s has unit %q, not a CloudWatch unit", where, *m.Name, m.Unit)
			}
			v, err := number(members[*m.Name])
			if err != nil {
				return Doc{}, true, fmt.Errorf("%s: metric %s: %w", where, *m.Name, err)
			}
			if prev, dup := doc.Metrics[*m.Name]; dup && (prev.Namespace != *d.Namespace || prev.Unit != m.Unit) {
				return Doc{}, true, fmt.Errorf("metric %s listed twice with different namespace or unit", *m.Name)
			}
			met := doc.Metrics[*m.Name]
			met.Namespace, met.Name, met.Unit, met.Value = *d.Namespace, *m.Name, m.Unit, v
			met.Dimensions = append(met.Dimensions, *d.Dimensions...)
			doc.Metrics[*m.Name] = met
		}
	}
	return doc, true, nil
}

// number reads a metric member: a number (arrays of up to 100 are allowed by
// the format; this project writes single values).
func number(raw json.RawMessage) (float64, error) {
	if raw == nil {
		return 0, errors.New("no top-level member")
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, nil
	}
	var fs []float64
	if err := json.Unmarshal(raw, &fs); err != nil || len(fs) == 0 || len(fs) > maxValues {
		return 0, fmt.Errorf("member %s is not a number", raw)
	}
	return fs[0], nil
}

func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func validDimensionValue(s string) bool {
	if strings.TrimSpace(s) == "" || len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// units are CloudWatch's metric units (MetricDatum.Unit).
var units = map[string]bool{}

func init() {
	for _, u := range strings.Fields(`Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes
		Gigabytes Terabytes Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second
		Kilobytes/Second Megabytes/Second Gigabytes/Second Terabytes/Second Bits/Second
		Kilobits/Second Megabits/Second Gigabits/Second Terabits/Second Count/Second None`) {
		units[u] = true
	}
}

// Lines parses every line of out that is a document; any invalid document is
// an error.
func Lines(out []byte) ([]Doc, error) {
	var docs []Doc
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		d, ok, err := Parse(l)
		if err != nil {
			return nil, fmt.Errorf("%w in %s", err, l)
		}
		if ok {
			docs = append(docs, d)
		}
	}
	return docs, nil
}
