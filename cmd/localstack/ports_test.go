package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/gateway"
)

// A busy port stops make run at once with a message that names the port, says
// how to pick another, and keeps the system's (or the JVM's) own words.
func TestServeOnBusyPorts(t *testing.T) {
	hold := func(addr string) int {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l.Addr().(*net.TCPAddr).Port
	}
	free := func() int {
		p, err := ddblocal.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Both fail before anything starts: no deadline of their own.
	ctx := context.Background()

	api := hold("127.0.0.1:0")
	err := serve(ctx, "127.0.0.1:"+strconv.Itoa(api), "127.0.0.1:0", free(), gateway.Options{})
	want := []string{"API port " + strconv.Itoa(api) + " is busy", "LOCAL_API_PORT=" + strconv.Itoa(api+1) + " make run", "-api-port", "address already in use"}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("busy API port: %v, want %q", err, w)
		}
	}

	if _, jarErr := ddblocal.FindJar(); jarErr != nil {
		t.Skip(jarErr)
	}
	dynamo := hold(":0") // DynamoDB Local binds every interface
	err = serve(ctx, "127.0.0.1:"+strconv.Itoa(free()), "127.0.0.1:0", dynamo, gateway.Options{})
	want = []string{"DynamoDB Local port " + strconv.Itoa(dynamo) + " is busy", "LOCAL_DYNAMODB_PORT=", "address already in use"}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("busy DynamoDB Local port: %v, want %q", err, w)
		}
	}
}

func TestWithPort(t *testing.T) {
	for _, c := range []struct {
		addr string
		port int
		want string
	}{
		{"localhost:3000", 0, "localhost:3000"},
		{"localhost:3000", 3001, "localhost:3001"},
		{"0.0.0.0:8010", 9010, "0.0.0.0:9010"},
		{"[::1]:3000", 4000, "[::1]:4000"},
	} {
		if got := withPort(c.addr, c.port); got != c.want {
			t.Errorf("withPort(%q, %d) = %q, want %q", c.addr, c.port, got, c.want)
		}
	}
}
