package clienterr

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// ErrUnavailable marks an error as a dependency outage (throttling, a 5xx, a
// broken connection, retries exhausted, a timeout), told from a bug so that the
// API can answer 503 for the first and 500 for the second. Every 503 wraps it,
// so the API has one check for all dependencies.
var ErrUnavailable = New(Unavailable, "dependency unavailable")

var (
	retryables = retry.IsErrorRetryables(retry.DefaultRetryables)
	throttles  = retry.IsErrorThrottles(retry.DefaultThrottles)
)

// Outage marks err with ErrUnavailable when it is a server-side fault, what the SDK
// itself would retry, what is left after its retries, or a call cut short by
// the request's deadline or cancellation (a caller that went away is not a
// bug); any other error is returned as it is.
func Outage(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var apiErr smithy.APIError
	var maxAttempts *retry.MaxAttemptsError
	var quota ratelimit.QuotaExceededError
	if errors.As(err, &maxAttempts) || errors.As(err, &quota) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultServer) ||
		throttles.IsErrorThrottle(err) == aws.TrueTernary ||
		retryables.IsErrorRetryable(err) == aws.TrueTernary {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
