package clienterr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vip-messages/api/internal/clienterr"
)

var notFound = clienterr.New(clienterr.NotFound, "workspace not found")

func TestKindOfAndIs(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		kind      clienterr.Kind
		isNotFnd  bool
		wantError string
	}{
		{"plain error is internal", errors.New("boom"), clienterr.Internal, false, "boom"},
		{"nil is internal", nil, clienterr.Internal, false, ""},
		{"the sentinel", notFound, clienterr.NotFound, true, "workspace not found"},
		{"wrapped sentinel", fmt.Errorf("access: %w", notFound), clienterr.NotFound, true, "access: workspace not found"},
		{"same kind and message, other reason", &clienterr.Error{Kind: clienterr.NotFound, Message: "workspace not found", Reason: "cache"}, clienterr.NotFound, true, "workspace not found"},
		{"same kind, other message", clienterr.New(clienterr.NotFound, "channel not found"), clienterr.NotFound, false, "channel not found"},
		{"same message, other kind", clienterr.New(clienterr.Forbidden, "workspace not found"), clienterr.Forbidden, false, "workspace not found"},
		{"violations", &clienterr.Error{Kind: clienterr.InvalidQuery, Violations: []clienterr.Violation{{Message: `"limit" must be a number`}, {Message: "x"}}},
			clienterr.InvalidQuery, false, `2 query-string violations, first: "limit" must be a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clienterr.KindOf(tt.err); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
			if got := errors.Is(tt.err, notFound); got != tt.isNotFnd {
				t.Errorf("errors.Is(err, notFound) = %v, want %v", got, tt.isNotFnd)
			}
			if tt.err != nil && tt.err.Error() != tt.wantError {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.wantError)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[clienterr.Kind]string{
		clienterr.Internal: "internal", clienterr.Unauthenticated: "unauthenticated", clienterr.Unavailable: "unavailable", clienterr.Kind(99): "Kind(99)", clienterr.Kind(-1): "Kind(-1)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
