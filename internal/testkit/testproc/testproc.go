// Package testproc runs a program a test needs (aws-lambda-rie, moto) for as
// long as the test, and keeps its output for the failure message.
package testproc

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/vip-messages/api/internal/local/rie"
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

// StartRIE runs bootstrap under the aws-lambda-rie binary rieBin with exactly
// env (a container has nothing else) and returns the address of its invoke
// API, once it listens, and its output (the emulator's and the function's).
func StartRIE(t testing.TB, rieBin, bootstrap string, env []string) (addr string, logs *Buffer) {
	t.Helper()
	addr, args, err := rie.Listen()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rieBin, append(args, bootstrap)...)
	cmd.Env = env
	logs, exited := Start(t, cmd, filepath.Base(bootstrap)+" under aws-lambda-rie")
	if err := rie.WaitListening(context.Background(), addr, exited); err != nil {
		t.Fatal(err)
	}
	return addr, logs
}

// InvokeRIE sends event, as JSON, to the emulator at addr.
func InvokeRIE(t testing.TB, addr string, event any) rie.Response {
	t.Helper()
	payload, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rie.Invoke(context.Background(), addr, payload)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
