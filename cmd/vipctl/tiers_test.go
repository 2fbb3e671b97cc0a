package main

import (
	"os"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// vipctl finds a tier's usage plan by name, so template.yaml must declare one
// plan per tier, named planName("${Stage}", tier). The rest of the plans' shape
// is the template's own business.
func TestTemplateDeclaresOnePlanPerTier(t *testing.T) {
	raw, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				UsagePlanName yaml.Node `yaml:"UsagePlanName"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	var got []string
	for id, r := range tpl.Resources {
		if r.Type != "AWS::ApiGateway::UsagePlan" {
			continue
		}
		n := r.Properties.UsagePlanName
		if n.Tag != "!Sub" {
			t.Errorf("%s: UsagePlanName %s %q, want a !Sub", id, n.Tag, n.Value)
		}
		got = append(got, n.Value)
	}
	var want []string
	for _, tier := range tiers {
		want = append(want, planName("${Stage}", tier))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("usage plan names %q, want %q", got, want)
	}
}
