package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/vip-messages/api/internal/local/ddblocal"
)

// testEndpointEnv names a running DynamoDB Local that test binaries reuse
// instead of starting their own (ddbtest).
const testEndpointEnv = "VIP_TEST_DYNAMODB_ENDPOINT"

// exitCode is a command's own non-zero exit, passed on as localstack's.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// withDynamoDBCmd runs a command (make test's go test) with one DynamoDB Local
// on a free port, named by VIP_TEST_DYNAMODB_ENDPOINT, so that every test
// binary shares it instead of starting a JVM each; it stops the server however
// the command ends. An endpoint already set is reused as it is.
func withDynamoDBCmd(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("usage: localstack with-dynamodb -- COMMAND [ARGS...]")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	if os.Getenv(testEndpointEnv) == "" {
		// No deadline of its own: the server answers or exits, and go test's
		// -timeout bounds the rest.
		srv, err := ddblocal.Start(context.Background(), ddblocal.Options{})
		if err != nil {
			return err
		}
		defer srv.Stop()
		fmt.Fprintf(os.Stderr, "DynamoDB Local for every test binary: %s=%s\n", testEndpointEnv, srv.Endpoint)
		cmd.Env = append(cmd.Env, testEndpointEnv+"="+srv.Endpoint)
	}
	// Ctrl-C reaches the command through the terminal's process group; a
	// SIGTERM sent to this process alone is passed on. Either way the command
	// ends first, then the server.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGTERM {
				_ = cmd.Process.Signal(s)
			}
		case err := <-done:
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return exitCode(max(1, exit.ExitCode()))
			}
			return err
		}
	}
}
