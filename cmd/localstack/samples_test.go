package main

import (
	"encoding/base64"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/local/repo"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/sampleevent"
	"github.com/vip-messages/api/internal/table"
)

// The sample events agree with the demo data seeded as of their x-date, which
// make invoke and TestSAMLocalPath serve them from: each list event's window
// holds messages it matches, and list-next-page.json continues list.json, its
// cursor being where an unfiltered page of 50 ends (docs/cursor.md: at the
// 51st message, in the through shape). TestSAMLocalPath checks each event's
// status through the built function; here every status has one.
func TestSampleEventsMatchTheDemoData(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := sampleAnchor()
	if err != nil {
		t.Fatal(err)
	}
	var demo []table.Message
	for _, cm := range seed.Demo(anchor).Messages {
		if cm.WorkspaceID == seed.DemoWorkspace && cm.MediumID == seed.DemoChannel {
			demo = cm.Messages
		}
	}
	slices.SortFunc(demo, func(a, b table.Message) int {
		return -strings.Compare(table.MessageSK(a.Timestamp, a.MessageID), table.MessageSK(b.Timestamp, b.MessageID))
	})
	// matching is the demo channel's messages the event's query selects, newest first.
	matching := func(name string) ([]table.Message, map[string]string) {
		t.Helper()
		ev, err := sampleevent.Load(filepath.Join(root, "events", name))
		if err != nil {
			t.Fatal(err)
		}
		q := ev.QueryStringParameters
		if q["workspaceId"] != seed.DemoWorkspace || q["mediumId"] != seed.DemoChannel {
			t.Fatalf("%s: not the demo channel: %v", name, q)
		}
		from, to := bound(t, q["from"], false), bound(t, q["to"], true)
		var out []table.Message
		for _, m := range demo {
			if m.Timestamp < from.UnixMilli() || m.Timestamp >= to.UnixMilli() ||
				q["label"] != "" && !slices.Contains(m.Labels, q["label"]) && !slices.Contains(m.CustomLabelIDs, q["label"]) ||
				q["contentType"] != "" && m.Kind != q["contentType"] {
				continue
			}
			out = append(out, m)
		}
		return out, q
	}

	files, err := sampleevent.Files(filepath.Join(root, "events"))
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[int]bool{}
	for _, f := range files {
		status, err := sampleevent.Status(f)
		if err != nil {
			t.Fatal(err)
		}
		statuses[status] = true
		if name := filepath.Base(f); status == http.StatusOK {
			if msgs, _ := matching(name); len(msgs) == 0 {
				t.Errorf("%s selects none of the demo data", name)
			}
		}
	}
	// 401 is the authorizer's: its samples, one each way.
	for _, status := range []int{200, 400, 403, 404, 422} {
		if !statuses[status] {
			t.Errorf("no sample event for status %d", status)
		}
	}
	authz, err := sampleevent.AuthorizerFiles(filepath.Join(root, "events"))
	if err != nil {
		t.Fatal(err)
	}
	authzStatuses := map[int]bool{}
	for _, f := range authz {
		status, err := sampleevent.Status(f)
		if err != nil {
			t.Fatal(err)
		}
		authzStatuses[status] = true
		if _, err := sampleevent.LoadAuthorizer(f); err != nil {
			t.Error(err)
		}
	}
	if !authzStatuses[200] || !authzStatuses[401] {
		t.Errorf("the authorizer's samples answer %v, want an Allow and a 401", authzStatuses)
	}

	first, q := matching("list.json")
	_, next := matching("list-next-page.json")
	if len(first) <= 50 || q["limit"] != "50" {
		t.Fatalf("list.json: %d messages at limit %s, want a full first page of 50", len(first), q["limit"])
	}
	end := first[50]
	want := "v1." + base64.RawURLEncoding.EncodeToString([]byte(table.MessageSK(end.Timestamp, end.MessageID)+"\x00"))
	if next["before"] != want {
		t.Errorf("list-next-page.json has before=%q, list.json's page ends at %q", next["before"], want)
	}
	delete(next, "before")
	if !maps.Equal(next, q) {
		t.Errorf("list-next-page.json asks %v, list.json %v", next, q)
	}
}

// bound is a window end as the API reads it: a date is its day's start, or
// for "to" the next day's; a date-time "to" is inclusive to the millisecond.
func bound(t *testing.T, s string, to bool) time.Time {
	t.Helper()
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if to {
			return d.AddDate(0, 0, 1)
		}
		return d
	}
	d, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	if to {
		return d.Add(time.Millisecond)
	}
	return d
}
