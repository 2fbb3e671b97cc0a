package authorizer

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/metrics"
)

// The authorizer's metrics: one EMF document per decision, merged into its
// log line (docs/operating.md, "Metrics"). A metric that does not apply (no
// Secrets Manager wait) is absent rather than zero.
var (
	// MetricLatency is the time from the authorizer's start to its answer.
	MetricLatency = metrics.Metric{Name: "AuthorizerLatency", Unit: metrics.Milliseconds}
	// MetricSecretsManagerTime is how long a decision waited for Secrets
	// Manager (a key cache miss).
	MetricSecretsManagerTime = metrics.Metric{Name: "SecretsManagerTime", Unit: metrics.Milliseconds}
	// Cache outcomes of the key store, 1 and 0 when the key was looked up.
	MetricKeyCacheHit  = metrics.Metric{Name: "KeyCacheHit", Unit: metrics.Count}
	MetricKeyCacheMiss = metrics.Metric{Name: "KeyCacheMiss", Unit: metrics.Count}
	// MetricKeyLookupsDenied is, on a key cache miss, 1 when Secrets Manager
	// answered AccessDenied (the key store takes it for an unknown key): a
	// policy that lost its grant shows as these, not as quiet 401s.
	MetricKeyLookupsDenied = metrics.Metric{Name: "KeyLookupsDenied", Unit: metrics.Count}
	// MetricFailures is 1 when the authorizer could not decide (the stage
	// answers 503).
	MetricFailures = metrics.Metric{Name: "AuthorizerFailures", Unit: metrics.Count}
	// MetricAuthFailures is 1 for a request that failed authentication (a
	// Deny, 401), by reason (dimension Reason) and in total.
	MetricAuthFailures = metrics.Metric{Name: "AuthFailures", Unit: metrics.Count}
)

var (
	// DecisionMetrics are emitted per stage.
	DecisionMetrics = &metrics.Directive{
		Dimensions: [][]string{{metrics.DimStage}},
		Metrics: []metrics.Metric{
			MetricLatency, MetricSecretsManagerTime, MetricKeyCacheHit, MetricKeyCacheMiss, MetricKeyLookupsDenied, MetricFailures,
		},
	}
	// AuthMetrics are emitted per stage and reason, and per stage: the reasons
	// are a short fixed list (auth.Reasons), never a key id.
	AuthMetrics = &metrics.Directive{
		Dimensions: [][]string{{metrics.DimStage, metrics.DimReason}, {metrics.DimStage}},
		Metrics:    []metrics.Metric{MetricAuthFailures},
	}
	// Directives are every metric the authorizer can emit.
	Directives = []*metrics.Directive{DecisionMetrics, AuthMetrics}
)

// WithMetrics makes each decision's log line an EMF document (namespace
// VipMessages, dimension Stage = stage), written whatever the log level.
func WithMetrics(stage string) Option { return func(z *Authorizer) { z.stage = stage } }

// unspecifiedReason labels a 401 whose error names no reason (none should).
const unspecifiedReason = "unspecified"

// Effects of a decision, as the log line names them.
const (
	effectAllow = "Allow"
	effectDeny  = "Deny"
	effectError = "Error"
)

// logDecision writes the one line of a decision. It names a key by its id
// only once a secret was found for it (Allow, or a signature that did not
// match a known key's secrets); otherwise by auth.UnverifiedKeyID. Never the
// signature, x-date or a secret.
func (z *Authorizer) logDecision(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest, key auth.Key, err error, rec *metrics.Recorder, d time.Duration) {
	attrs := []slog.Attr{slog.String("requestId", ev.RequestContext.RequestID)}
	effect, reason := effectAllow, ""
	level := slog.LevelInfo
	e, isClient := clienterr.As(err)
	switch {
	case err == nil:
		attrs = append(attrs, slog.String("apiKeyId", key.ID))
	case isClient && e.Kind == clienterr.Unauthenticated:
		effect, reason = effectDeny, e.Reason
		if reason == "" {
			reason = unspecifiedReason
		}
		if id, ok := auth.KeyID(ev.Headers, ev.MultiValueHeaders); ok {
			if reason == auth.ReasonSignatureMismatch || reason == auth.ReasonV1Refused {
				attrs = append(attrs, slog.String("apiKeyId", id)) // a key that exists
			} else {
				attrs = append(attrs, auth.UnverifiedKeyID(id))
			}
		}
	default:
		// The key store unavailable, or a bug: the stage answers 503.
		effect, level = effectError, slog.LevelError
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	attrs = append(attrs, slog.String("effect", effect), slog.String("httpMethod", ev.HTTPMethod), slog.String("resource", ev.Resource))

	var doc *metrics.Document
	if z.stage != "" {
		doc = metrics.New(time.Now())
		doc.Dimension(metrics.DimStage, z.stage)
	}
	put := func(m metrics.Metric, v float64) {
		if doc != nil {
			doc.Put(DecisionMetrics, m, v)
			return
		}
		attrs = append(attrs, slog.Attr{Key: m.Name, Value: metrics.Number(v)})
	}
	put(MetricLatency, metrics.Millis(d))
	if doc == nil && reason != "" {
		attrs = append(attrs, slog.String(metrics.DimReason, reason))
	}
	if doc != nil {
		put(MetricFailures, oneIf(effect == effectError))
		if r := rec; r != nil {
			if r.SecretsManagerWaits > 0 {
				put(MetricSecretsManagerTime, metrics.Millis(r.SecretsManager))
			}
			if r.KeyCacheHits+r.KeyCacheMisses > 0 {
				put(MetricKeyCacheHit, float64(r.KeyCacheHits))
				put(MetricKeyCacheMiss, float64(r.KeyCacheMisses))
			}
			if r.KeyCacheMisses > 0 {
				put(MetricKeyLookupsDenied, float64(r.KeyLookupsDenied))
			}
		}
		if effect == effectDeny {
			doc.Dimension(metrics.DimReason, reason)
			doc.Put(AuthMetrics, MetricAuthFailures, 1)
		}
	}
	metrics.Log(ctx, z.log, level, "authorize", doc, attrs...)
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
