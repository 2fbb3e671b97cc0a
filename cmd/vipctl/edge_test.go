package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vip-messages/api/client"
)

// fakeGateway is the part of API Gateway's REST API that vipctl calls,
// with state (keys, plans, which key is in which plan) and a record of every
// request the real SDK sent. It pages usage plans two at a time and refuses a
// key in two plans of the stage, as API Gateway does.
type fakeGateway struct {
	mu       sync.Mutex
	plans    [][2]string                // id, name, in listing order
	keys     map[string][2]string       // id -> name, value
	members  map[string]map[string]bool // plan id -> key ids
	requests []fakeRequest
	nextID   int
}

type fakeRequest struct {
	Method, Path, Query string
	Body                map[string]any
	SignedFor           string // the SigV4 credential scope's service
}

func (r fakeRequest) String() string { return r.Method + " " + r.Path }

func newFakeGateway(stage string) *fakeGateway {
	g := &fakeGateway{keys: map[string][2]string{}, members: map[string]map[string]bool{}}
	// A plan of another stage first, so that names matter.
	g.plans = append(g.plans, [2]string{"plan-other", planName("prod", tierStandard)})
	for _, t := range tiers {
		g.plans = append(g.plans, [2]string{"plan-" + t, planName(stage, t)})
	}
	for _, p := range g.plans {
		g.members[p[0]] = map[string]bool{}
	}
	return g
}

func (g *fakeGateway) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, msg)
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rec := fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	if _, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		if parts := strings.Split(strings.Split(rest, ",")[0], "/"); len(parts) == 5 {
			rec.SignedFor = parts[3]
		}
	}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		_ = json.Unmarshal(b, &rec.Body)
	}
	g.requests = append(g.requests, rec)
	w.Header().Set("Content-Type", "application/json")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/usageplans":
		start := 0
		if p := r.URL.Query().Get("position"); p != "" {
			fmt.Sscan(p, &start)
		}
		plans := g.plans
		if key := r.URL.Query().Get("keyId"); key != "" {
			plans = nil
			for _, p := range g.plans {
				if g.members[p[0]][key] {
					plans = append(plans, p)
				}
			}
		}
		end := min(start+2, len(plans))
		var items []map[string]string
		for _, p := range plans[start:end] {
			items = append(items, map[string]string{"id": p[0], "name": p[1]})
		}
		out := map[string]any{"item": items}
		if end < len(plans) {
			out["position"] = fmt.Sprint(end)
		}
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodGet && r.URL.Path == "/apikeys":
		q := r.URL.Query()
		var items []map[string]any
		ids := make([]string, 0, len(g.keys))
		for id := range g.keys {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			k := g.keys[id]
			if !strings.HasPrefix(k[0], q.Get("name")) {
				continue
			}
			item := map[string]any{"id": id, "name": k[0], "enabled": true}
			if q.Get("includeValues") == "true" {
				item["value"] = k[1]
			}
			items = append(items, item)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"item": items})
	case r.Method == http.MethodPost && r.URL.Path == "/apikeys":
		value, _ := rec.Body["value"].(string)
		name, _ := rec.Body["name"].(string)
		for _, k := range g.keys {
			if k[1] == value {
				g.fail(w, http.StatusConflict, "ConflictException", "API Key value already exists")
				return
			}
		}
		if len(value) < 20 {
			g.fail(w, http.StatusBadRequest, "BadRequestException", "API Key value should be at least 20 characters")
			return
		}
		g.nextID++
		id := fmt.Sprintf("ak%04d", g.nextID)
		g.keys[id] = [2]string{name, value}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "name": name, "value": value, "enabled": true})
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "apikeys":
		if _, ok := g.keys[parts[1]]; !ok {
			g.fail(w, http.StatusNotFound, "NotFoundException", "Invalid API Key identifier specified")
			return
		}
		delete(g.keys, parts[1])
		for _, m := range g.members {
			delete(m, parts[1])
		}
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "usageplans" && parts[2] == "keys":
		plan, key := parts[1], fmt.Sprint(rec.Body["keyId"])
		if g.members[plan] == nil || g.keys[key] == [2]string{} || rec.Body["keyType"] != "API_KEY" {
			g.fail(w, http.StatusNotFound, "NotFoundException", "Invalid Usage Plan or API Key")
			return
		}
		for p, m := range g.members {
			if m[key] && p != "plan-other" {
				g.fail(w, http.StatusConflict, "ConflictException", "Usage Plan "+p+" cannot be added because API Key "+key+" cannot reference multiple Usage Plans with the same API Stage")
				return
			}
		}
		g.members[plan][key] = true
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": key, "type": "API_KEY"})
	case r.Method == http.MethodDelete && len(parts) == 4 && parts[0] == "usageplans" && parts[2] == "keys":
		if !g.members[parts[1]][parts[3]] {
			g.fail(w, http.StatusNotFound, "NotFoundException", "Invalid Usage Plan Key")
			return
		}
		delete(g.members[parts[1]], parts[3])
		w.WriteHeader(http.StatusAccepted)
	default:
		g.fail(w, http.StatusNotFound, "NotFoundException", "no such operation in the fake: "+r.Method+" "+r.URL.Path)
	}
}

// take returns the requests so far and forgets them.
func (g *fakeGateway) take() []fakeRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.requests
	g.requests = nil
	return out
}

// tierOf is the tier plan the key value is in ("" for none), failing on two.
func (g *fakeGateway) tierOf(t *testing.T, value string) string {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	var in []string
	for id, k := range g.keys {
		if k[1] != value {
			continue
		}
		for plan, m := range g.members {
			if m[id] {
				in = append(in, strings.TrimPrefix(plan, "plan-"))
			}
		}
	}
	if len(in) > 1 {
		t.Fatalf("key %s is in plans %v", value, in)
	}
	if len(in) == 0 {
		return ""
	}
	return in[0]
}

// wantCalls checks the writes among reqs (the reads may vary) and that every
// request was SigV4-signed for API Gateway.
func wantCalls(t *testing.T, reqs []fakeRequest, want ...string) {
	t.Helper()
	var writes []string
	for _, r := range reqs {
		if r.SignedFor != "apigateway" {
			t.Errorf("%s signed for %q, want apigateway", r, r.SignedFor)
		}
		if r.Method != http.MethodGet {
			writes = append(writes, r.String())
		}
	}
	if !slices.Equal(writes, want) {
		t.Errorf("API Gateway writes:\n%s\nwant:\n%s", strings.Join(writes, "\n"), strings.Join(want, "\n"))
	}
}

func find(reqs []fakeRequest, method, path string) *fakeRequest {
	for i := range reqs {
		if reqs[i].Method == method && reqs[i].Path == path {
			return &reqs[i]
		}
	}
	return nil
}

func TestKeysAtTheEdge(t *testing.T) {
	getenv := vars(t)
	fake := newFakeGateway("dev")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_API_GATEWAY", srv.URL)
	ws := "ws-demo"

	// create --tier premium: the API key (name and value = the key id), then
	// its usage plan key, then the secret; the key then works end to end.
	k := createKey(t, getenv, "--workspace", ws, "--stage", "dev", "--tier", "premium")
	reqs := fake.take()
	wantCalls(t, reqs, "POST /apikeys", "POST /usageplans/plan-premium/keys")
	if r := find(reqs, http.MethodPost, "/apikeys"); r == nil || r.Body["value"] != k.KeyID || r.Body["name"] != k.KeyID || r.Body["enabled"] != true {
		t.Errorf("CreateApiKey body %v, want name = value = %s, enabled", r.Body, k.KeyID)
	}
	if r := find(reqs, http.MethodPost, "/usageplans/plan-premium/keys"); r == nil || r.Body["keyId"] != "ak0001" || r.Body["keyType"] != "API_KEY" {
		t.Errorf("CreateUsagePlanKey body %v", r.Body)
	}
	if r := find(reqs, http.MethodGet, "/apikeys"); r == nil || !strings.Contains(r.Query, "includeValues=true") || !strings.Contains(r.Query, "name="+k.KeyID) {
		t.Errorf("GetApiKeys query %v", r)
	}
	if got := fake.tierOf(t, k.KeyID); got != tierPremium {
		t.Fatalf("key in tier %q, want premium", got)
	}
	wantAnswer(t, "new premium key", listAs(t, k.KeyID, k.Secret, ws, "ch-demo"), nil)

	// set-tier: out of premium, into basic, in that order (one plan per stage).
	mustRun(t, getenv, "keys", "set-tier", "--stage", "dev", "--tier", "basic", k.KeyID)
	wantCalls(t, fake.take(), "DELETE /usageplans/plan-premium/keys/ak0001", "POST /usageplans/plan-basic/keys")
	if got := fake.tierOf(t, k.KeyID); got != tierBasic {
		t.Fatalf("after set-tier: tier %q, want basic", got)
	}
	// Again: nothing to leave, already in.
	mustRun(t, getenv, "keys", "set-tier", "--stage", "dev", "--tier", "basic", k.KeyID)
	wantCalls(t, fake.take())
	if got := fake.tierOf(t, k.KeyID); got != tierBasic {
		t.Fatalf("after set-tier again: tier %q", got)
	}

	// revoke: out of its plan, then the API key goes, then the secret.
	mustRun(t, getenv, "keys", "revoke", "--force", "--stage", "dev", k.KeyID)
	wantCalls(t, fake.take(), "DELETE /usageplans/plan-basic/keys/ak0001", "DELETE /apikeys/ak0001")
	if got := fake.tierOf(t, k.KeyID); got != "" {
		t.Fatalf("revoked key still in tier %q", got)
	}
	wantAnswer(t, "revoked key", listAs(t, k.KeyID, k.Secret, ws, "ch-demo"), client.ErrUnauthorized)

	// A key made without --stage (the local stack) joins the edge with set-tier.
	local := createKey(t, getenv, "--workspace", ws)
	if reqs := fake.take(); len(reqs) != 0 {
		t.Fatalf("create without --stage called API Gateway: %v", reqs)
	}
	mustRun(t, getenv, "keys", "set-tier", "--stage", "dev", "--tier", "standard", local.KeyID)
	wantCalls(t, fake.take(), "POST /apikeys", "POST /usageplans/plan-standard/keys")
	if got := fake.tierOf(t, local.KeyID); got != tierStandard {
		t.Fatalf("registered key in tier %q", got)
	}
}

func TestKeysAtTheEdgeRefusals(t *testing.T) {
	getenv := vars(t)
	fake := newFakeGateway("dev")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_API_GATEWAY", srv.URL)

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"id shorter than API Gateway's 20", []string{"keys", "create", "--workspace", "ws-demo", "--stage", "dev", "--id", "short-key-01"}, exitUsage,
			"has 12 characters: on a deployed stage a key id is also its API Gateway API key value, which must be 20 to 128"},
		{"unknown tier", []string{"keys", "create", "--workspace", "ws-demo", "--stage", "dev", "--tier", "gold"}, exitUsage, `--tier "gold": want one of basic, standard, premium`},
		{"stage not deployed", []string{"keys", "create", "--workspace", "ws-demo", "--stage", "qa"}, exitError, "no API Gateway usage plan vip-messages-qa-standard"},
		{"set-tier without a stage", []string{"keys", "set-tier", "--tier", "basic", "vk_0123456789abcdef0123"}, exitUsage, "tiers exist on deployed stages only"},
		{"set-tier of a short id", []string{"keys", "set-tier", "--stage", "dev", "demo-key-0001"}, exitError, "has 13 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := vipctl(getenv, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("want exit %d with %q\n%s", tc.code, tc.msg, r)
			}
			for _, req := range fake.take() {
				if req.Method != http.MethodGet {
					t.Errorf("refused command wrote to API Gateway: %s", req)
				}
			}
		})
	}
	// A 20-character id is fine.
	k := createKey(t, getenv, "--workspace", "ws-demo", "--stage", "dev", "--id", "acme-prod-0123456789")
	if got := fake.tierOf(t, k.KeyID); got != tierStandard {
		t.Fatalf("20-character id: tier %q, want the default standard", got)
	}
}

// Against an AWS account, create and revoke need the stage: a key that is not
// also an API Gateway key of its stage would be refused at the edge.
func TestStageRequiredAgainstAWS(t *testing.T) {
	awsAccount(t)
	stage := func(k string) string {
		return map[string]string{envSecretPrefix: "vip-api/dev/api-keys"}[k]
	}
	for _, args := range [][]string{
		{"keys", "create", "--workspace", "ws-demo"},
		{"keys", "revoke", "vk_0123456789abcdef0123"},
	} {
		var rec offline
		r := vipctlVia(&rec, stage, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--stage (or $VIP_STAGE) is required against an AWS account") || rec.requests.Load() != 0 {
			t.Errorf("vipctl %s: want exit 2 asking for --stage, no request; %d requests\n%s", strings.Join(args, " "), rec.requests.Load(), r)
		}
	}
}
