package api

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/table"
)

// BenchmarkRequestLine is what metrics add to a request, measured apart from
// the page work that drowns it in BenchmarkHandlerMetrics on a busy machine:
// the per-request recorder in the context and the request line, written
// without the document (off) and as the document (on). line-bytes is the
// line's size; cpu-ns/op the CPU time per request (see cpuTime).
//
//	go test ./internal/api -run '^$' -bench RequestLine -benchmem -count 10
func BenchmarkRequestLine(b *testing.B) {
	page := messages.Page{Messages: make([]table.Message, 50), Stats: messages.Stats{Calls: 1, ItemsRead: 51, ReadCapacity: 1.5, Path: messages.ReadUnfiltered}}
	for _, stage := range []string{"", "prod"} {
		name := "off"
		if stage != "" {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			w := &sizeWriter{}
			h := New(nil, nil, slog.New(slog.NewJSONHandler(w, nil)))
			h.stage = stage
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				ctx := context.Background()
				rl := requestLog{keyID: "demo-key-0001", workspaceID: "ws-demo", mediumID: "ch-demo", page: page, bodyBytes: 14_000, responseBytes: 15_000}
				if h.stage != "" {
					rl.rec = &metrics.Recorder{}
					ctx = metrics.NewContext(ctx, rl.rec)
					metrics.FromContext(ctx).KeyCache(true)
					metrics.FromContext(ctx).WorkspaceCache(true)
					metrics.FromContext(ctx).CalledDynamoDB(4 * time.Millisecond)
				}
				h.logRequest(ctx, "c0ffee00-1234-5678-9abc-def012345678", rl, 200, nil, 12*time.Millisecond)
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(w.last), "line-bytes")
		})
	}
}

// cpuTime is the process's user and system CPU time. On a machine shared by
// many processes ns/op (wall time) mostly measures waiting; cpu-ns/op counts
// only this process's work (its GC included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start.
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

type sizeWriter struct{ last int }

func (w *sizeWriter) Write(p []byte) (int, error) { w.last = len(p); return len(p), nil }
