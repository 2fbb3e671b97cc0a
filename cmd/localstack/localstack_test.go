package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/contract"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/devstack/stacktest"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/repo"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/table"
)

// The stack of this binary loads the handler as the Lambda does: configuration
// through the environment, with the SDK's endpoint overrides, as in production.
func TestMain(m *testing.M) {
	code := stacktest.Main(m, stacktest.LambdaPath())
	removeLambdas()
	os.Exit(code)
}

// The local API end to end: the stack, configuration through the environment
// (the SDK's endpoint overrides, as in production), real HTTP requests, and a walk
// of every page of the demo channel.
func TestServeWalksDemoChannel(t *testing.T) {
	stack, base := stacktest.API(t)
	seedNow := stack.SeedNow

	from := seedNow.UTC().AddDate(0, 0, -20).Format(time.DateOnly)
	to := seedNow.UTC().Format(time.DateOnly)
	var want []table.Message
	lo, _ := time.Parse(time.DateOnly, from)
	hi, _ := time.Parse(time.DateOnly, to)
	for _, m := range seed.Demo(seedNow).Messages[0].Messages {
		if m.Timestamp >= lo.UnixMilli() && m.Timestamp < hi.AddDate(0, 0, 1).UnixMilli() {
			want = append(want, m)
		}
	}
	slices.SortFunc(want, func(a, b table.Message) int {
		return strings.Compare(table.MessageSK(b.Timestamp, b.MessageID), table.MessageSK(a.Timestamp, a.MessageID))
	})

	q := url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "from": {from}, "to": {to}, "limit": {"97"}}
	var got []string
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("the walk does not end")
		}
		u := base + gateway.VipMessages.Path + "?" + q.Encode()
		status, header, body := get(t, u)
		contract.Check(t, u, status, header, body)
		if status != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, status, body)
		}
		var p struct {
			Items []struct {
				Timestamp      int64
				ConversationID string
				Text           string
			}
			MayHaveMore bool
			NextCursor  string
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			got = append(got, it.ConversationID+"|"+it.Text)
		}
		if !p.MayHaveMore {
			break
		}
		q.Set("before", p.NextCursor)
	}
	if len(want) < 500 {
		t.Fatalf("the window holds only %d seeded messages", len(want))
	}
	var wantKeys []string
	for _, m := range want {
		wantKeys = append(wantKeys, m.ConversationID+"|"+m.Text)
	}
	if !slices.Equal(got, wantKeys) {
		t.Fatalf("walk returned %d messages, want %d in newest-first order", len(got), len(wantKeys))
	}

	// Anything but GET /vip-messages answers as the deployed stage's gateway response does.
	if status, _, body := get(t, base+"/other"); status != http.StatusNotFound || !strings.Contains(string(body), "not found: this API serves GET /vip-messages only") {
		t.Fatalf("unknown path: %d %s", status, body)
	}
}

// demoRequest is a GET of u signed (v1) as the demo key, x-date now.
func demoRequest(u string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	date := time.Now().UTC().Format(time.RFC3339)
	req.Header.Set("x-api-key", devstack.DemoKeyID)
	req.Header.Set("x-date", date)
	req.Header.Set("x-signature", auth.Sign(devstack.DemoSecret, date))
	return req
}

func get(t testing.TB, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(demoRequest(u))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// make invoke's path: the function built as for a deploy (for this machine's
// architecture) under the real aws-lambda-rie, with a sample event re-signed.
func TestInvokeThroughRIE(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	bins := buildLambdas(t)
	bootstrap, rie := bins.API, bins.RIE

	cases := map[string]int{
		"list.json":                    200,
		"error-401-bad-signature.json": 401,
	}
	for event, status := range cases {
		t.Run(event, func(t *testing.T) {
			var out, logs bytes.Buffer
			err := invokeCmd([]string{"-event", filepath.Join(root, "events", event), "-bootstrap", bootstrap, "-rie", rie,
				"-dynamodb-endpoint", ddbtest.Endpoint(t)}, &out, &logs)
			if err != nil {
				t.Fatal(err)
			}
			// The emulator's REPORT line keeps its Duration, not its placeholders.
			if l := logs.String(); !strings.Contains(l, "INIT REPORT") || !regexp.MustCompile(`\nREPORT RequestId: \S+\tDuration: [0-9.]+ ms\t\(aws-lambda-rie's other`).MatchString(l) ||
				strings.Contains(l, "Max Memory Used") {
				t.Errorf("emulator logs:\n%s", l)
			}
			var resp struct {
				StatusCode int
				Body       string
			}
			if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
				t.Fatalf("not a proxy response: %v\n%s", err, out.String())
			}
			if resp.StatusCode != status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, resp.Body)
			}
		})
	}
}
