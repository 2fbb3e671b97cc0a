package ddblocal

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// A busy port: Start names the port and the system's message, and the error
// matches ErrPortBusy (the JVM's own message, when it exits early, is
// TestTailBuffer's).
func TestStartOnABusyPort(t *testing.T) {
	if _, err := FindJar(); err != nil {
		t.Skip(err)
	}
	// DynamoDB Local binds every interface, so hold the port there.
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s, err := Start(context.Background(), Options{Port: port}) // fails before it starts a JVM

	if err == nil {
		s.Stop()
		t.Fatal("started on a busy port")
	}
	msg := err.Error()
	for _, want := range []string{"DynamoDB Local port " + strconv.Itoa(port) + " is busy", "address already in use"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "\tat ") || strings.Contains(msg, "\n") || !errors.Is(err, ErrPortBusy) {
		t.Errorf("want one line without stack frames, matching ErrPortBusy: %q", msg)
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 10}
	_, _ = tb.Write([]byte("0123456789abc"))
	if string(tb.b) != "3456789abc" {
		t.Errorf("tail %q", tb.b)
	}
	tb = &tailBuffer{max: 1 << 10}
	_, _ = tb.Write([]byte("Initializing\nException in thread \"main\" java.io.IOException: x\n\tat a.b(c.java:1)\nCaused by: java.net.BindException: y\n\t... 16 more\n"))
	if got := tb.message(); got != `Exception in thread "main" java.io.IOException: x; Caused by: java.net.BindException: y` {
		t.Errorf("message %q", got)
	}
}
