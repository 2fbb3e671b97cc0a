package api

import "github.com/vip-messages/api/internal/metrics"

// The handler's metrics: one EMF document per request, merged into the
// request's log line (README, "Operating a stage"). A metric that does not
// apply to a request (no page read, no Secrets Manager wait) is absent from
// its document rather than zero, so its statistics describe the requests it
// applies to.
var (
	// MetricLatency is the time from the handler's start to its answer.
	MetricLatency = metrics.Metric{Name: "Latency", Unit: metrics.Milliseconds}
	// MetricItemsReturned and MetricItemsRead: messages in the page and items
	// DynamoDB read for it (more than returned with a FilterExpression).
	MetricItemsReturned = metrics.Metric{Name: "ItemsReturned", Unit: metrics.Count}
	MetricItemsRead     = metrics.Metric{Name: "ItemsRead", Unit: metrics.Count}
	// MetricReadCapacity is the read capacity units the page's Queries consumed.
	MetricReadCapacity = metrics.Metric{Name: "ReadCapacity", Unit: metrics.None}
	// MetricResponseBytes is the response body's size.
	MetricResponseBytes = metrics.Metric{Name: "ResponseBytes", Unit: metrics.Bytes}
	// One per status class, 1 for the request's class and 0 for the others,
	// so Sum counts requests and Average is the class's share.
	MetricStatus2xx = metrics.Metric{Name: "Status2xx", Unit: metrics.Count}
	MetricStatus4xx = metrics.Metric{Name: "Status4xx", Unit: metrics.Count}
	MetricStatus5xx = metrics.Metric{Name: "Status5xx", Unit: metrics.Count}
	// MetricSecretsManagerTime is how long the request waited for Secrets
	// Manager (a key cache miss); MetricDynamoDBTime is the time of its
	// DynamoDB calls (access check and Queries, SDK retries included).
	MetricSecretsManagerTime = metrics.Metric{Name: "SecretsManagerTime", Unit: metrics.Milliseconds}
	MetricDynamoDBTime       = metrics.Metric{Name: "DynamoDBTime", Unit: metrics.Milliseconds}
	// Cache outcomes of the key store and of the workspace/channel check, 1
	// and 0 when the request looked the key or the workspace up.
	MetricKeyCacheHit        = metrics.Metric{Name: "KeyCacheHit", Unit: metrics.Count}
	MetricKeyCacheMiss       = metrics.Metric{Name: "KeyCacheMiss", Unit: metrics.Count}
	MetricWorkspaceCacheHit  = metrics.Metric{Name: "WorkspaceCacheHit", Unit: metrics.Count}
	MetricWorkspaceCacheMiss = metrics.Metric{Name: "WorkspaceCacheMiss", Unit: metrics.Count}
	// Which read path served the page, 1 and 0 when a page was read: the
	// channel without a filter, the channel with a FilterExpression (a
	// contentType, or a label on LABEL_QUERY=filter), or the label index.
	MetricReadUnfiltered = metrics.Metric{Name: "ReadPathUnfiltered", Unit: metrics.Count}
	MetricReadFilter     = metrics.Metric{Name: "ReadPathFilter", Unit: metrics.Count}
	MetricReadLabelIndex = metrics.Metric{Name: "ReadPathLabelIndex", Unit: metrics.Count}
	// MetricAuthFailures is 1 for a request that failed authentication, by
	// reason (dimension Reason) and in total.
	MetricAuthFailures = metrics.Metric{Name: "AuthFailures", Unit: metrics.Count}
)

var (
	// RequestMetrics are emitted per stage.
	RequestMetrics = &metrics.Directive{
		Dimensions: [][]string{{metrics.DimStage}},
		Metrics: []metrics.Metric{
			MetricLatency, MetricItemsReturned, MetricItemsRead, MetricReadCapacity, MetricResponseBytes,
			MetricStatus2xx, MetricStatus4xx, MetricStatus5xx,
			MetricSecretsManagerTime, MetricDynamoDBTime,
			MetricKeyCacheHit, MetricKeyCacheMiss, MetricWorkspaceCacheHit, MetricWorkspaceCacheMiss,
			MetricReadUnfiltered, MetricReadFilter, MetricReadLabelIndex,
		},
	}
	// AuthMetrics are emitted per stage and reason, and per stage: the reasons
	// are a short fixed list, never a key id.
	AuthMetrics = &metrics.Directive{
		Dimensions: [][]string{{metrics.DimStage, metrics.DimReason}, {metrics.DimStage}},
		Metrics:    []metrics.Metric{MetricAuthFailures},
	}
	// Directives are every metric the handler can emit.
	Directives = []*metrics.Directive{RequestMetrics, AuthMetrics}
)
