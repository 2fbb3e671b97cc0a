package clienterr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/vip-messages/api/internal/clienterr"
)

func TestOutage(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		outage bool
	}{
		{"throughput exceeded", &types.ProvisionedThroughputExceededException{Message: ptr("slow down")}, true},
		{"request limit", &types.RequestLimitExceeded{}, true},
		{"throttling code", &smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{"internal server error", &types.InternalServerError{}, true},
		{"retries exhausted", &retry.MaxAttemptsError{Attempt: 3, Err: errors.New("boom")}, true},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"cancelled", fmt.Errorf("query: %w", context.Canceled), true},
		{"validation (a bug)", &smithy.GenericAPIError{Code: "ValidationException", Message: "bad expression"}, false},
		{"resource not found (a bug)", &types.ResourceNotFoundException{}, false},
		{"plain error", errors.New("decode"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := clienterr.Outage(c.err)
			if errors.Is(got, clienterr.ErrUnavailable) != c.outage {
				t.Fatalf("Outage(%v) outage = %v, want %v", c.err, !c.outage, c.outage)
			}
			if !errors.Is(got, c.err) {
				t.Fatal("the original error is lost")
			}
		})
	}
	if clienterr.Outage(nil) != nil {
		t.Fatal("Outage(nil) != nil")
	}
}

func ptr(s string) *string { return &s }
