// Package rie runs a function's bootstrap under aws-lambda-rie, the emulator
// sam local uses, and invokes it: what make invoke, make bench-cold and the
// tests that run the built functions share.
package rie

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/vip-messages/api/internal/local/ddblocal"
)

// Listen picks the emulator's addresses: addr for its invoke API, and a
// Runtime API on another free port (its default, a fixed 127.0.0.1:9001, makes
// two emulators on one machine fail). args are its address flags, to put
// before the bootstrap's path.
func Listen() (addr string, args []string, err error) {
	var ports [2]int
	for i := range ports {
		if ports[i], err = ddblocal.FreePort(); err != nil {
			return "", nil, err
		}
	}
	addr = "127.0.0.1:" + strconv.Itoa(ports[0])
	return addr, []string{"--runtime-interface-emulator-address", addr, "--runtime-api-address", "127.0.0.1:" + strconv.Itoa(ports[1])}, nil
}

// WaitListening waits until the emulator listens on addr, or exits (exited
// closed), or ctx ends: on a busy machine its start may take long, which is no
// error.
func WaitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("aws-lambda-rie exited before it listened on %s", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Response is the emulator's answer to an invocation.
type Response struct {
	Status int
	// ErrorType is the emulator's Error-Type header: set when the function
	// returned an error or its payload was over the emulator's limit.
	ErrorType string
	Payload   []byte
}

// Invoke sends payload to the function of the emulator at addr.
func Invoke(ctx context.Context, addr string, payload []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return Response{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: resp.StatusCode, ErrorType: resp.Header.Get("Error-Type"), Payload: body}, nil
}
