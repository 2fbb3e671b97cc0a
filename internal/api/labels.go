package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/labelcount"
)

// LabelsResource is the label overview's resource: for a window, the number
// of VIP messages and of the messages carrying each label
// (internal/labelcount).
const LabelsResource = "/vip-messages/labels"

// Counter counts a window's messages and labels.
type Counter interface {
	Count(ctx context.Context, q labelcount.Query) (labelcount.Counts, error)
}

// WithCounter serves GET /vip-messages/labels from c.
func WithCounter(c Counter) Option { return func(h *Handler) { h.counter = c } }

// errNoCounter: a Handler built without WithCounter got the route (a wiring bug).
var errNoCounter = errors.New("api: no label counter configured")

// isLabelsRoute: a request servesRoute accepts is for the label overview.
func isLabelsRoute(req events.APIGatewayProxyRequest) bool { return req.Resource == LabelsResource }

// serveLabels answers GET /vip-messages/labels with the same rules and order of
// answers as GET /vip-messages (validate, window, access check), then the
// counts: {"total":…,"labels":[{"label":…,"kind":…,"count":…},…]}.
func (h *Handler) serveLabels(ctx context.Context, key auth.Key, req events.APIGatewayProxyRequest, rl *requestLog) (string, error) {
	p, err := validateParams(labelsParams, req.QueryStringParameters, req.MultiValueQueryStringParameters)
	if err != nil {
		return "", err
	}
	rl.workspaceID, rl.mediumID = p.workspaceID, p.mediumID
	mq, err := p.query()
	if err != nil {
		return "", err
	}
	if h.counter == nil {
		return "", errNoCounter
	}
	q := labelcount.Query{WorkspaceID: mq.WorkspaceID, MediumID: mq.MediumID, From: mq.From, Until: mq.Until}
	counts, err := authorizeThen(ctx, h.access, key, q.WorkspaceID, q.MediumID, func(ctx context.Context) (labelcount.Counts, error) {
		return h.counter.Count(ctx, q)
	})
	if err != nil {
		return "", err
	}
	rl.counts = &counts
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(counts); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
