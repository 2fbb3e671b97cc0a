package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/labelcount"
	"github.com/vip-messages/api/internal/signature"
)

// counterFake answers every count with counts and records the queries.
type counterFake struct {
	counts labelcount.Counts
	mu     sync.Mutex
	asked  []labelcount.Query
}

func (c *counterFake) Count(_ context.Context, q labelcount.Query) (labelcount.Counts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, q)
	return c.counts, nil
}

// labelsRequest is request for GET /vip-messages/labels.
func labelsRequest(query map[string]string, mutate ...func(map[string]string)) events.APIGatewayProxyRequest {
	ev := request(query, mutate...)
	ev.Path, ev.Resource = api.LabelsResource, api.LabelsResource
	return ev
}

func TestLabels(t *testing.T) {
	counts := &counterFake{counts: labelcount.Counts{Total: 1204, Labels: []labelcount.Label{
		{Label: "frustrated", Kind: labelcount.Builtin, Count: 37},
		{Label: "cl-billing", Kind: labelcount.Custom, Count: 12},
	}, Stats: labelcount.Stats{Calls: 1, ItemsRead: 24, ReadCapacity: 0.5}}}
	f := newFixture(api.WithCounter(counts))
	wrongSig := func(h map[string]string) { h["X-Signature"] = auth.Sign("not-the-secret", h["X-Date"]) }
	window := func(extra map[string]string) map[string]string {
		q := map[string]string{"workspaceId": wsVIP, "mediumId": chOn, "from": "2026-11-20", "to": "2026-11-26"}
		for k, v := range extra {
			q[k] = v
		}
		return q
	}
	cases := []struct {
		name   string
		ev     events.APIGatewayProxyRequest
		status int
		body   string // the whole body, or a substring of it with want "~"
		exact  bool
	}{
		{"200 the counts", labelsRequest(window(nil)), 200,
			`{"total":1204,"labels":[{"label":"frustrated","kind":"builtin","count":37},{"label":"cl-billing","kind":"custom","count":12}]}`, true},
		{"200 a date-time window", labelsRequest(window(map[string]string{"from": "2026-11-25T10:00:00+02:00", "to": "2026-11-26T00:00:00.5Z"})), 200, `"total":1204`, false},
		{"401 before 422", labelsRequest(map[string]string{"limit": "x"}, wrongSig), 401, `invalid credentials`, false},
		{"422 missing all", labelsRequest(nil), 422, `"type":"any.required"`, false},
		{"422 limit is not a parameter here", labelsRequest(window(map[string]string{"limit": "5"})), 422, `"type":"object.unknown"`, false},
		{"422 nor is label", labelsRequest(window(map[string]string{"label": "frustrated"})), 422, `"type":"object.unknown"`, false},
		{"422 bad date", labelsRequest(window(map[string]string{"to": "yesterday"})), 422, `"type":"date.format"`, false},
		{"400 32 days", labelsRequest(window(map[string]string{"from": "2026-10-26"})), 400, `31 days`, false},
		{"400 reversed", labelsRequest(window(map[string]string{"from": "2026-11-27"})), 400, `must not be after`, false},
		{"403 not VIP", labelsRequest(window(map[string]string{"workspaceId": wsBasic, "mediumId": chBasic})), 403, `not a VIP`, false},
		{"404 disconnected channel", labelsRequest(window(map[string]string{"mediumId": chOff})), 404, `channel not found`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := call(t, f.h, c.ev)
			if resp.StatusCode != c.status || (c.exact && resp.Body != c.body) || !strings.Contains(resp.Body, c.body) {
				t.Fatalf("got %d %s\nwant %d %s", resp.StatusCode, resp.Body, c.status, c.body)
			}
		})
	}
	t.Run("a version 2 signature names the path", func(t *testing.T) {
		for _, c := range []struct {
			signed string
			status int
		}{{api.LabelsResource, 200}, {signature.Path, 401}} {
			ev := labelsRequest(window(nil))
			ev.Headers["X-Signature"] = signature.SignV2For(demoSecret, http.MethodGet, c.signed, ev.Headers["X-Date"],
				signature.Query(ev.QueryStringParameters, ev.MultiValueQueryStringParameters))
			if resp := call(t, f.h, ev); resp.StatusCode != c.status {
				t.Errorf("signed over %s: %d %s, want %d", c.signed, resp.StatusCode, resp.Body, c.status)
			}
		}
	})
	t.Run("the window asked is /vip-messages' window", func(t *testing.T) {
		counts.asked = nil
		call(t, f.h, labelsRequest(window(nil)))
		call(t, f.h, labelsRequest(window(map[string]string{"from": "2026-11-25T10:00:00+02:00", "to": "2026-11-26T00:00:00.5Z"})))
		want := []labelcount.Query{
			{WorkspaceID: wsVIP, MediumID: chOn, From: day, Until: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)},
			{WorkspaceID: wsVIP, MediumID: chOn, From: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 26, 0, 0, 0, 501e6, time.UTC)},
		}
		if len(counts.asked) != len(want) {
			t.Fatalf("asked %v", counts.asked)
		}
		for i, q := range counts.asked {
			if q.WorkspaceID != want[i].WorkspaceID || q.MediumID != want[i].MediumID || !q.From.Equal(want[i].From) || !q.Until.Equal(want[i].Until) {
				t.Errorf("asked %+v, want %+v", q, want[i])
			}
		}
	})
	t.Run("an empty window", func(t *testing.T) {
		empty := newFixture(api.WithCounter(&counterFake{counts: labelcount.Counts{Labels: []labelcount.Label{}}}))
		if resp := call(t, empty.h, labelsRequest(window(nil))); resp.StatusCode != 200 || resp.Body != `{"total":0,"labels":[]}` {
			t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
		}
	})
	t.Run("the request line names the route and its reads", func(t *testing.T) {
		f.logs.Reset()
		resp := call(t, f.h, labelsRequest(window(nil)))
		line := requestLine(t, f.logs.String())
		if line["route"] != api.LabelsResource || line["queryCalls"] != float64(1) || line["ItemsRead"] != float64(24) ||
			line["ItemsReturned"] != float64(2) || line["BodyBytes"] != float64(len(resp.Body)) {
			t.Fatalf("request line %v", line)
		}
	})
	checkNoSecretsLogged(t, f.logs.String())
}
