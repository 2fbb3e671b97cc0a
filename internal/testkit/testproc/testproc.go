// Package testproc runs a program a test needs (aws-lambda-rie, moto) for as
// long as the test, and keeps its output for the failure message.
package testproc

import (
	"bytes"
	"os/exec"
	"sync"
	"syscall"
	"testing"
)

// Buffer collects output written from several goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// tail is how much of a failed test's process output is logged.
const tail = 4096

// Start starts cmd with its output in logs, and stops it when the test ends
// (SIGTERM, then waits), logging the output's last 4 KB under what if the test
// failed. exited is closed once the process has ended.
func Start(t testing.TB, cmd *exec.Cmd, what string) (logs *Buffer, exited <-chan struct{}) {
	t.Helper()
	logs = &Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if t.Failed() {
			out := logs.String()
			t.Logf("%s output (last 4 KB):\n%s", what, out[max(0, len(out)-tail):])
		}
	})
	return logs, done
}
