// Package metrics writes CloudWatch Embedded Metric Format (EMF) documents: a
// JSON log line whose top-level members include metric values and an "_aws"
// member telling CloudWatch Logs which of them to extract as metrics, under
// which namespace and dimensions. No agent, no API call, no dependency: the
// line goes to stdout like any other log line.
//
// A document is written as the attributes of one slog line (Attrs), so a
// request's log line and its metrics are one line: one record to read in Logs
// Insights, one write per request, no field repeated. Log writes such a line
// whatever the logger's level, since the metrics must not depend on LOG_LEVEL.
//
// The format's rules this package keeps (CloudWatch Embedded Metric Format
// specification): _aws holds Timestamp (epoch milliseconds) and
// CloudWatchMetrics, an array of directives {Namespace, Dimensions, Metrics};
// Dimensions is an array of dimension sets, each an array of member names whose
// values are top-level strings; Metrics lists at most 100 {Name, Unit}, each
// name a top-level number. Only the metrics a document carries are listed, so a
// metric with no value (no Secrets Manager call, say) is absent, not zero.
package metrics

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strconv"
	"time"
)

// Namespace is the CloudWatch namespace of every metric of the project.
const Namespace = "VipMessages"

// Dimension names. Only low-cardinality values may be dimensions: every
// distinct combination is a billed custom metric. Key ids, workspaces and
// channels are plain members (searchable in Logs Insights), never dimensions.
const (
	// DimStage is the deployment stage (STAGE): dev, staging, prod, local.
	DimStage = "Stage"
	// DimReason is why a request failed authentication (auth.Reason values).
	DimReason = "Reason"
)

// Unit is a CloudWatch metric unit.
type Unit string

// The units the project uses.
const (
	Milliseconds Unit = "Milliseconds"
	Count        Unit = "Count"
	Bytes        Unit = "Bytes"
	None         Unit = "None"
)

// Metric is a metric name and its unit.
type Metric struct {
	Name string
	Unit Unit
}

// Directive is one entry of _aws.CloudWatchMetrics: metrics and the
// dimension sets each of them is emitted under (one metric per set, as if
// put once per set). A package that emits metrics declares its
// directives as variables, so the set it can emit is known to its tests and to
// the template's (dashboard and alarms name only metrics the code emits).
type Directive struct {
	Dimensions [][]string
	Metrics    []Metric
}

// Has reports whether m is one of d's metrics.
func (d *Directive) Has(m Metric) bool {
	for _, x := range d.Metrics {
		if x == m {
			return true
		}
	}
	return false
}

// maxMetrics is the format's limit of metrics per directive.
const maxMetrics = 100

// Document is one EMF document under construction. The zero value is not
// usable; call New. Not safe for concurrent use.
type Document struct {
	time time.Time
	dims [4][2]string
	nd   int
	vals []value
}

type value struct {
	dir *Directive
	m   Metric
	v   float64
}

// New returns an empty document stamped t.
func New(t time.Time) *Document {
	return &Document{time: t, vals: make([]value, 0, 24)}
}

// Dimension sets a dimension's value (a top-level string member). Values must
// be non-empty ASCII; others are dropped, and with them the directives that
// name the dimension, since CloudWatch would reject the document.
func (d *Document) Dimension(name, value string) {
	if !validDimensionValue(value) {
		return
	}
	for i := 0; i < d.nd; i++ {
		if d.dims[i][0] == name {
			d.dims[i][1] = value
			return
		}
	}
	if d.nd < len(d.dims) {
		d.dims[d.nd] = [2]string{name, value}
		d.nd++
	}
}

// Put records m's value under dir. A later Put of the same metric and
// directive replaces the value; NaN and infinities are dropped (not JSON).
func (d *Document) Put(dir *Directive, m Metric, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	for i := range d.vals {
		if d.vals[i].dir == dir && d.vals[i].m == m {
			d.vals[i].v = v
			return
		}
	}
	d.vals = append(d.vals, value{dir, m, v})
}

// Value returns m's recorded value under any directive.
func (d *Document) Value(m Metric) (float64, bool) {
	for _, v := range d.vals {
		if v.m == m {
			return v.v, true
		}
	}
	return 0, false
}

func (d *Document) dimension(name string) (string, bool) {
	for i := 0; i < d.nd; i++ {
		if d.dims[i][0] == name {
			return d.dims[i][1], true
		}
	}
	return "", false
}

// complete reports whether every dimension of dir has a value.
func (d *Document) complete(dir *Directive) bool {
	for _, set := range dir.Dimensions {
		for _, n := range set {
			if _, ok := d.dimension(n); !ok {
				return false
			}
		}
	}
	return true
}

// AppendAWS appends the _aws object: the timestamp and one directive per
// distinct Directive with values, in the order of their first Put.
func (d *Document) AppendAWS(b []byte) []byte {
	b = append(b, `{"Timestamp":`...)
	b = strconv.AppendInt(b, d.time.UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[`...)
	first := true
	for i, v := range d.vals {
		if d.seenBefore(i) || !d.complete(v.dir) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"Namespace":"`+Namespace+`","Dimensions":[`...)
		for j, set := range v.dir.Dimensions {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for k, n := range set {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendName(b, n)
			}
			b = append(b, ']')
		}
		b = append(b, `],"Metrics":[`...)
		n := 0
		for _, w := range d.vals[i:] {
			if w.dir != v.dir || n == maxMetrics {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, `{"Name":`...)
			b = appendName(b, w.m.Name)
			b = append(b, `,"Unit":"`...)
			b = append(b, w.m.Unit...)
			b = append(b, `"}`...)
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...)
}

// appendName appends a metric or dimension name as a JSON string. Names are
// the code's constants; one that needs escaping is quoted the slow way.
func appendName(b []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q, _ := json.Marshal(name)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"')
}

// seenBefore reports whether the directive of vals[i] has an earlier value.
func (d *Document) seenBefore(i int) bool {
	for _, v := range d.vals[:i] {
		if v.dir == d.vals[i].dir {
			return true
		}
	}
	return false
}

// Attrs appends the document as top-level log attributes: _aws, the
// dimensions, then each metric value (an integer when it is one).
func (d *Document) Attrs(attrs []slog.Attr) []slog.Attr {
	attrs = append(attrs, slog.Any("_aws", json.RawMessage(d.AppendAWS(make([]byte, 0, 1024)))))
	for i := 0; i < d.nd; i++ {
		attrs = append(attrs, slog.String(d.dims[i][0], d.dims[i][1]))
	}
	for i, v := range d.vals {
		if d.duplicateName(i) {
			continue
		}
		attrs = append(attrs, slog.Attr{Key: v.m.Name, Value: Number(v.v)})
	}
	return attrs
}

// duplicateName: a metric put under two directives is one member.
func (d *Document) duplicateName(i int) bool {
	for _, v := range d.vals[:i] {
		if v.m.Name == d.vals[i].m.Name {
			return true
		}
	}
	return false
}

// Number is v as a log value: an Int64 when integral (slog writes those
// without encoding/json), else a Float64.
func Number(v float64) slog.Value {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return slog.Int64Value(int64(v))
	}
	return slog.Float64Value(v)
}

// Log writes one line with the document's members after attrs, at level,
// even when the logger's level would drop it: the line carries metrics.
func Log(ctx context.Context, log *slog.Logger, level slog.Level, msg string, doc *Document, attrs ...slog.Attr) {
	if doc == nil {
		log.LogAttrs(ctx, level, msg, attrs...)
		return
	}
	// No source position: the handlers here do not print one.
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(doc.Attrs(attrs)...)
	_ = log.Handler().Handle(ctx, r)
}

// Millis is d in milliseconds, with microsecond precision.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func validDimensionValue(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	blank := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return false
		}
		if c != ' ' {
			blank = false
		}
	}
	return !blank
}
