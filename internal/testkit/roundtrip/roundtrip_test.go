package roundtrip

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCriticalPath(t *testing.T) {
	at := func(ms int) time.Time { return time.UnixMilli(int64(ms)) }
	call := func(start, end int) Call { return Call{Start: at(start), End: at(end)} }
	for _, tc := range []struct {
		name  string
		calls []Call
		want  int
	}{
		{"none", nil, 0},
		{"one", []Call{call(0, 10)}, 1},
		{"three in a row", []Call{call(0, 10), call(11, 20), call(21, 30)}, 3},
		{"back to back counts as after", []Call{call(0, 10), call(10, 20)}, 2},
		{"two overlapping then one", []Call{call(0, 10), call(2, 12), call(13, 20)}, 2},
		{"all overlapping", []Call{call(0, 10), call(1, 11), call(2, 12)}, 1},
		{"order of recording does not matter", []Call{call(21, 30), call(0, 10), call(11, 20)}, 3},
		{"a long call beside a chain of two", []Call{call(0, 30), call(1, 5), call(6, 9)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CriticalPath(tc.calls); got != tc.want {
				t.Errorf("CriticalPath = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestRecorderProxiesAndRecords(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, _ := io.ReadAll(r.Body) // the proxy forwards the body it recorded
		io.WriteString(w, "answer to "+r.Header.Get("X-Amz-Target")+" "+string(in))
	}))
	defer backend.Close()
	rec, err := NewRecorder(backend.URL, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()

	for _, op := range []string{"A.One", "A.Two"} {
		req, _ := http.NewRequest(http.MethodPost, rec.URL, strings.NewReader(`{"op":"`+op+`"}`))
		req.Header.Set("X-Amz-Target", op)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "answer to "+op+" "+`{"op":"`+op+`"}` {
			t.Fatalf("body %q", body)
		}
	}
	calls := rec.Calls()
	if len(calls) != 2 || calls[0].Op != "A.One" || calls[1].Op != "A.Two" ||
		string(calls[0].Body) != `{"op":"A.One"}` || string(calls[1].Body) != `{"op":"A.Two"}` {
		t.Fatalf("calls %+v", calls)
	}
	if d := calls[0].End.Sub(calls[0].Start); d < 5*time.Millisecond {
		t.Errorf("the delay was not applied: the call took %v", d)
	}
	if got := CriticalPath(calls); got != 2 {
		t.Errorf("sequential calls: critical path %d, want 2", got)
	}
	rec.Reset()
	if len(rec.Calls()) != 0 {
		t.Error("Reset kept calls")
	}
}
