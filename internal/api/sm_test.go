package api_test

import (
	"net/http/httptest"
	"testing"

	"github.com/vip-messages/api/internal/local/smlocal"
)

func startSM(t *testing.T, svc *smlocal.Service) string {
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return srv.URL
}
