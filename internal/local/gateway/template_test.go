package gateway

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vip-messages/api/internal/api"
)

// TestMessagesAreTheDeployedStages: the gateway answers an unknown path and a
// throttled key as the deployed stage's API Gateway does (template.yaml's
// GatewayResponses), so the local stack shows what a client will meet.
func TestMessagesAreTheDeployedStages(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources struct {
			VipMessagesApi struct {
				Properties struct {
					GatewayResponses map[string]struct {
						ResponseTemplates map[string]string `yaml:"ResponseTemplates"`
					} `yaml:"GatewayResponses"`
				} `yaml:"Properties"`
			} `yaml:"VipMessagesApi"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	// The function answers a crafted event for another route as the stage does.
	if api.ErrRouteNotFound.Message != NotFoundMessage {
		t.Errorf("the function answers another route with %q, the gateway with %q", api.ErrRouteNotFound.Message, NotFoundMessage)
	}
	for typ, want := range map[string]string{"MISSING_AUTHENTICATION_TOKEN": NotFoundMessage, "THROTTLED": ThrottledMessage} {
		body := tpl.Resources.VipMessagesApi.Properties.GatewayResponses[typ].ResponseTemplates["application/json"]
		var got struct{ Message *string }
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.Message == nil || *got.Message != want {
			t.Errorf("template.yaml answers %s with %q, the local gateway with {\"message\":%q}", typ, body, want)
		}
	}
}
