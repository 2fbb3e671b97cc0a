package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/metrics"
)

// The handler's metrics: one EMF document per request, merged into the
// request's log line (docs/operating.md, "Metrics"). A metric that does not
// apply to a request (no page read, no DynamoDB wait) is absent from
// its document rather than zero, so its statistics describe the requests it
// applies to.
var (
	// MetricLatency is the time from the handler's start to its answer.
	MetricLatency = metrics.Metric{Name: "Latency", Unit: metrics.Milliseconds}
	// MetricItemsReturned and MetricItemsRead: messages in the page and items
	// DynamoDB read for it (more than returned with a FilterExpression). These
	// and MetricReadCapacity are written for a 200 only.
	MetricItemsReturned = metrics.Metric{Name: "ItemsReturned", Unit: metrics.Count}
	MetricItemsRead     = metrics.Metric{Name: "ItemsRead", Unit: metrics.Count}
	// MetricReadCapacity is the read capacity units the page's Queries consumed.
	MetricReadCapacity = metrics.Metric{Name: "ReadCapacity", Unit: metrics.None}
	// MetricBodyBytes is the response body's size, of every answer.
	MetricBodyBytes = metrics.Metric{Name: "BodyBytes", Unit: metrics.Bytes}
	// MetricResponseBytes is, for a page, the proxy response the Lambda
	// runtime sends: what MaxResponseBytes bounds.
	MetricResponseBytes = metrics.Metric{Name: "ResponseBytes", Unit: metrics.Bytes}
	// One per status class, 1 for the request's class and 0 for the others,
	// so Sum counts requests and Average is the class's share.
	MetricStatus2xx = metrics.Metric{Name: "Status2xx", Unit: metrics.Count}
	MetricStatus4xx = metrics.Metric{Name: "Status4xx", Unit: metrics.Count}
	MetricStatus5xx = metrics.Metric{Name: "Status5xx", Unit: metrics.Count}
	// MetricDynamoDBTime is the time of the request's DynamoDB calls (access
	// check and Queries, SDK retries included). The key's Secrets Manager
	// time is the authorizer's (internal/authorizer).
	MetricDynamoDBTime = metrics.Metric{Name: "DynamoDBTime", Unit: metrics.Milliseconds}
	// Cache outcomes of the workspace/channel check, 1 and 0 when the
	// request looked the workspace up.
	MetricWorkspaceCacheHit  = metrics.Metric{Name: "WorkspaceCacheHit", Unit: metrics.Count}
	MetricWorkspaceCacheMiss = metrics.Metric{Name: "WorkspaceCacheMiss", Unit: metrics.Count}
	// Which read path served the page, 1 and 0 when a page was read: the
	// channel without a filter, the channel with a FilterExpression (a
	// contentType, or a label on LABEL_QUERY=filter), or the label index.
	MetricReadUnfiltered = metrics.Metric{Name: "ReadPathUnfiltered", Unit: metrics.Count}
	MetricReadFilter     = metrics.Metric{Name: "ReadPathFilter", Unit: metrics.Count}
	MetricReadLabelIndex = metrics.Metric{Name: "ReadPathLabelIndex", Unit: metrics.Count}
	// MetricReadLabelCounts is 1 for a GET /vip-messages/labels answered (its
	// counters and cut days read), 0 for a page: the routes' share.
	MetricReadLabelCounts = metrics.Metric{Name: "ReadPathLabelCounts", Unit: metrics.Count}
)

var (
	// RequestMetrics are emitted per stage.
	RequestMetrics = &metrics.Directive{
		Dimensions: [][]string{{metrics.DimStage}},
		Metrics: []metrics.Metric{
			MetricLatency, MetricItemsReturned, MetricItemsRead, MetricReadCapacity, MetricBodyBytes, MetricResponseBytes,
			MetricStatus2xx, MetricStatus4xx, MetricStatus5xx,
			MetricDynamoDBTime, MetricWorkspaceCacheHit, MetricWorkspaceCacheMiss,
			MetricReadUnfiltered, MetricReadFilter, MetricReadLabelIndex, MetricReadLabelCounts,
		},
	}
	// Directives are every metric the handler can emit.
	Directives = []*metrics.Directive{RequestMetrics}
)

// WithMetrics makes each request's log line an EMF document (namespace
// VipMessages, dimension Stage = stage): RequestMetrics. The line is then written whatever the log level. Without it the line
// carries the same measured values, without _aws and the metric-only members.
func WithMetrics(stage string) Option { return func(h *Handler) { h.stage = stage } }

// measure adds the request's measured values to attrs under their metric
// names; with metrics on, it returns them as a document instead, with the
// metric-only values (status class, dependency time, caches, read path, auth
// failure reason).
func (h *Handler) measure(attrs *[]slog.Attr, rl requestLog, status int, err error, d time.Duration) *metrics.Document {
	var doc *metrics.Document
	if h.stage != "" {
		doc = metrics.New(time.Now())
		doc.Dimension(metrics.DimStage, h.stage)
	}
	put := func(m metrics.Metric, v float64) {
		if doc != nil {
			doc.Put(RequestMetrics, m, v)
			return
		}
		*attrs = append(*attrs, slog.Attr{Key: m.Name, Value: metrics.Number(v)})
	}
	put(MetricLatency, metrics.Millis(d))
	put(MetricBodyBytes, float64(rl.bodyBytes))
	if rl.responseBytes > 0 {
		put(MetricResponseBytes, float64(rl.responseBytes))
	}
	switch {
	case status == http.StatusOK && rl.counts != nil:
		// The labels of the overview, and the counter items and edge items read.
		put(MetricItemsReturned, float64(len(rl.counts.Labels)))
		put(MetricItemsRead, float64(rl.counts.Stats.ItemsRead))
		put(MetricReadCapacity, rl.counts.Stats.ReadCapacity)
	case status == http.StatusOK:
		put(MetricItemsReturned, float64(len(rl.page.Messages)))
		put(MetricItemsRead, float64(rl.page.Stats.ItemsRead))
		put(MetricReadCapacity, rl.page.Stats.ReadCapacity)
	}
	if doc == nil {
		return nil
	}
	put(MetricStatus2xx, oneIf(status >= 200 && status < 300))
	put(MetricStatus4xx, oneIf(status >= 400 && status < 500))
	put(MetricStatus5xx, oneIf(status >= 500))
	if r := rl.rec; r != nil {
		if r.DynamoDBCalls > 0 {
			put(MetricDynamoDBTime, metrics.Millis(r.DynamoDB))
		}
		if r.WorkspaceCacheHits+r.WorkspaceCacheMisses > 0 {
			put(MetricWorkspaceCacheHit, float64(r.WorkspaceCacheHits))
			put(MetricWorkspaceCacheMiss, float64(r.WorkspaceCacheMisses))
		}
	}
	if path := rl.page.Stats.Path; path != messages.ReadNone || rl.counts != nil {
		put(MetricReadUnfiltered, oneIf(path == messages.ReadUnfiltered))
		put(MetricReadFilter, oneIf(path == messages.ReadFilter))
		put(MetricReadLabelIndex, oneIf(path == messages.ReadLabelIndex))
		put(MetricReadLabelCounts, oneIf(rl.counts != nil))
	}
	return doc
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
