// Package api is the Lambda handler of GET /vip-messages behind API Gateway's REST
// proxy integration: take the key the authorizer authenticated (internal/authorizer),
// validate the query string, check the key's access, query, encode. The contract
// is openapi.yaml at the repository root.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/labelcount"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/signature"
)

// Authorizer checks that a key may read a workspace channel.
type Authorizer interface {
	Check(ctx context.Context, key auth.Key, workspaceID, mediumID string) error
	// Known is Check's verdict when it needs no read (the key's own workspace
	// list, or a cached answer); known is false when Check would read.
	Known(ctx context.Context, key auth.Key, workspaceID, mediumID string) (verdict error, known bool)
}

// Lister reads one page of messages.
type Lister interface {
	List(ctx context.Context, q messages.Query) (messages.Page, error)
}

// Handler serves GET /vip-messages.
type Handler struct {
	access Authorizer
	store  Lister
	log    *slog.Logger
	// stage, when set, turns the request line into an EMF document (metrics.go).
	stage string
	// counter answers GET /vip-messages/labels (labels.go).
	counter Counter
}

// Option configures a Handler.
type Option func(*Handler)

// New returns a Handler; a nil log discards.
func New(authz Authorizer, store Lister, log *slog.Logger, opts ...Option) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{access: authz, store: store, log: log}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Item is one message of a response.
type Item struct {
	Timestamp      int64    `json:"timestamp"`
	Date           string   `json:"date"`
	ConversationID string   `json:"conversationId"`
	UserName       string   `json:"userName"`
	Kind           string   `json:"kind"`
	Source         string   `json:"source"`
	Labels         []string `json:"labels"`
	CustomLabelIDs []string `json:"customLabelIds"`
	Text           string   `json:"text"`
}

// ListResponse is the 200 body.
type ListResponse struct {
	Items       []Item `json:"items"`
	Returned    int    `json:"returned"`
	MayHaveMore bool   `json:"mayHaveMore"`
	NextCursor  string `json:"nextCursor,omitempty"`
}

// answerReserve is the time kept before the Lambda deadline to answer.
const answerReserve = time.Second

// dateLayout is RFC 3339 in UTC with milliseconds.
const dateLayout = "2006-01-02T15:04:05.000Z07:00"

// requestLog gathers the fields of the one log line of a request.
type requestLog struct {
	keyID, workspaceID, mediumID string
	page                         messages.Page
	// bodyBytes is the response body's length; responseBytes what the Lambda
	// runtime sends (the proxy response, body escaped once more), which
	// MaxResponseBytes bounds.
	bodyBytes, responseBytes int
	// rec gathers the request's dependency times and cache outcomes when
	// metrics are on.
	rec *metrics.Recorder
	// counts is the answer of GET /vip-messages/labels (nil on the other route).
	counts *labelcount.Counts
}

// Handle answers one request. It never returns an error: every failure is a
// response, so API Gateway never turns one into its own 502.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (resp events.APIGatewayProxyResponse, _ error) {
	start := time.Now()
	requestID := requestID(ctx, req)
	if deadline, ok := ctx.Deadline(); ok {
		// Stop waiting on a slow dependency while there is still time to answer
		// 503 ourselves, before Lambda's timeout turns into API Gateway's bare 502.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-answerReserve))
		defer cancel()
	}
	var rl requestLog
	if h.stage != "" {
		rl.rec = &metrics.Recorder{}
		ctx = metrics.NewContext(ctx, rl.rec)
	}
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
			resp = h.respond(requestID, err, &rl)
		}
		h.logRequest(ctx, requestID, rl, resp.StatusCode, err, time.Since(start))
	}()

	hdr := headers(requestID)
	var body string
	body, err = h.serve(ctx, req, hdr, &rl)
	if err != nil {
		return h.respond(requestID, err, &rl), nil
	}
	rl.bodyBytes = len(body)
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Headers: hdr, Body: body}, nil
}

// serve answers a request with the 200 body, or the error to answer instead.
func (h *Handler) serve(ctx context.Context, req events.APIGatewayProxyRequest, hdr map[string]string, rl *requestLog) (string, error) {
	if !servesRoute(req) {
		return "", ErrRouteNotFound
	}
	// The authorizer authenticated the request before API Gateway invoked
	// this function; without its context the request came another way.
	key, ok := auth.KeyFromAuthorizer(req.RequestContext.Authorizer)
	if !ok {
		return "", errNoAuthorizer
	}
	rl.keyID = key.ID
	if isLabelsRoute(req) {
		return h.serveLabels(ctx, key, req, rl)
	}
	p, err := validate(req.QueryStringParameters, req.MultiValueQueryStringParameters)
	if err != nil {
		return "", err
	}
	rl.workspaceID, rl.mediumID = p.workspaceID, p.mediumID
	q, err := p.query()
	if err != nil {
		return "", err
	}
	pb, err := newPageBody(hdr, MaxResponseBytes, q.Limit)
	if err != nil {
		return "", err
	}
	q.MaxBytes = pb.limit
	page, err := h.authorizeAndList(ctx, key, q)
	if err != nil {
		return "", err
	}
	// The page ends before the first message that would take the response
	// past MaxResponseBytes.
	kept := 0
	for _, m := range page.Messages {
		if !pb.Add(m) {
			break
		}
		kept++
	}
	page = page.Cut(kept)
	rl.page = page
	// nextCursor is present exactly when mayHaveMore is true.
	more := page.MayHaveMore && page.Next != nil
	cursor := ""
	if more {
		cursor = page.Next.Token()
	}
	body, n := pb.finish(more, cursor)
	rl.responseBytes = n
	return body, nil
}

// authorizeAndList runs the access check and reads the page (authorizeThen).
func (h *Handler) authorizeAndList(ctx context.Context, key auth.Key, q messages.Query) (messages.Page, error) {
	return authorizeThen(ctx, h.access, key, q.WorkspaceID, q.MediumID, func(ctx context.Context) (messages.Page, error) {
		return h.store.List(ctx, q)
	})
}

// authorizeThen runs the access check and read. When the verdict needs a read
// (a cold workspace cache), the check and read do not depend on each other,
// so they run at the same time: a cold request waits on one DynamoDB round
// trip instead of two. The check's answer still wins: a refused or failed
// check cancels the read and its result is dropped unseen.
func authorizeThen[T any](ctx context.Context, access Authorizer, key auth.Key, workspaceID, mediumID string, read func(context.Context) (T, error)) (T, error) {
	var none T
	if verdict, known := access.Known(ctx, key, workspaceID, mediumID); known {
		if verdict != nil {
			return none, verdict
		}
		return read(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	checkCtx := ctx
	if rec := metrics.FromContext(ctx); rec != nil {
		checkRec := &metrics.Recorder{}
		checkCtx = metrics.NewContext(ctx, checkRec)
		// The check's read and the page's Queries overlap: the request waited
		// on DynamoDB for the longer of the two.
		defer rec.Join(checkRec, rec.DynamoDB)
	}
	checked := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if p := recover(); p != nil { // Handle's recover cannot see this goroutine
				err = fmt.Errorf("panic in the access check: %v", p)
			}
			if err != nil {
				cancel()
			}
			checked <- err
		}()
		err = access.Check(checkCtx, key, workspaceID, mediumID)
	}()
	out, readErr := read(ctx)
	if err := <-checked; err != nil {
		return none, err
	}
	return out, readErr
}

func (h *Handler) respond(requestID string, err error, rl *requestLog) events.APIGatewayProxyResponse {
	f := classify(err)
	resp := encode(requestID, f.status, f.body)
	if f.status == http.StatusServiceUnavailable {
		resp.Headers["Retry-After"] = retryAfterSeconds
	}
	rl.bodyBytes = len(resp.Body)
	rl.responseBytes = 0 // only pages are measured: an error body is small
	return resp
}

func headers(requestID string) map[string]string {
	return map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store",
		"X-Request-Id":  requestID,
	}
}

// encode writes an error body. HTML escaping is off, as in a page.
func encode(requestID string, status int, body any) events.APIGatewayProxyResponse {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"message":"` + msgInternal + `"}` + "\n")
	}
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    headers(requestID),
		Body:       string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))),
	}
}

func requestID(ctx context.Context, req events.APIGatewayProxyRequest) string {
	if id := req.RequestContext.RequestID; id != "" {
		return id
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

// logRequest writes the one line of a request. It names the key id, never the
// secret, signature or x-date, and never message text. The detail of a 5xx is
// logged here and only here.
func (h *Handler) logRequest(ctx context.Context, requestID string, rl requestLog, status int, err error, d time.Duration) {
	attrs := make([]slog.Attr, 0, 40)
	attrs = append(attrs,
		slog.String("requestId", requestID),
		slog.Int("status", status),
		slog.Int("queryCalls", rl.page.Stats.Calls),
	)
	if rl.counts != nil {
		attrs[len(attrs)-1] = slog.Int("queryCalls", rl.counts.Stats.Calls)
		attrs = append(attrs, slog.String("route", LabelsResource))
	}
	if rl.keyID != "" {
		attrs = append(attrs, slog.String("apiKeyId", rl.keyID))
	}
	if rl.workspaceID != "" {
		attrs = append(attrs, slog.String("workspaceId", rl.workspaceID), slog.String("mediumId", rl.mediumID))
	}
	level := slog.LevelInfo
	if err != nil {
		f := classify(err)
		switch {
		case f.status >= 500:
			level = slog.LevelError
			attrs = append(attrs, slog.String("error", err.Error()))
		default:
			attrs = append(attrs, slog.String("reason", reason(f)))
		}
	}
	// The measured values are named as their metrics, with or without EMF.
	doc := h.measure(&attrs, rl, status, err, d)
	metrics.Log(ctx, h.log, level, "request", doc, attrs...)
}

// reason is a 4xx's client message or violation types, safe to log.
func reason(f failure) string {
	switch b := f.body.(type) {
	case messageBody:
		return b.Message
	case violationsBody:
		s := ""
		for i, v := range b.Error {
			if i > 0 {
				s += ","
			}
			s += v.Type + ":" + v.Path[0]
		}
		return s
	}
	return ""
}

// ErrRouteNotFound answers any request line but GET /vip-messages and GET
// /vip-messages/labels: the same
// 404 as the stage's API Gateway gives a route it does not have
// (MISSING_AUTHENTICATION_TOKEN in template.yaml), so a crafted event cannot
// pass for another operation.
var ErrRouteNotFound = clienterr.New(clienterr.NotFound, "not found: this API serves GET /vip-messages and GET /vip-messages/labels only")

// ReasonNoAuthorizer labels the 401 of a request without the authorizer's
// context: API Gateway always runs the authorizer first, so the request did
// not come through the stage (a direct invoke, the pre-traffic hook).
const ReasonNoAuthorizer = "no authorizer context"

var errNoAuthorizer = &clienterr.Error{Kind: clienterr.Unauthenticated, Message: auth.ErrUnauthenticated.Message, Reason: ReasonNoAuthorizer}

// servesRoute: the request is GET on the resource /vip-messages or
// /vip-messages/labels. Its path is the resource's, or ends with it behind a
// custom domain's base path.
func servesRoute(req events.APIGatewayProxyRequest) bool {
	return req.HTTPMethod == signature.Method && (req.Resource == signature.Path || req.Resource == LabelsResource) &&
		(req.Path == req.Resource || strings.HasSuffix(req.Path, req.Resource))
}
