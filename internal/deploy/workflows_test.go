package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The pipeline (.github/workflows): make test on every push and pull request; on
// main, dev then staging then prod, each in its GitHub environment, by OIDC.

// pinnedRE is an action pinned to a full commit SHA (a tag or branch can move).
var pinnedRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$`)

func loadWorkflows(t *testing.T) map[string]obj {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), ".github", "workflows", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows in .github/workflows (%v)", err)
	}
	out := map[string]obj{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, err := parseTemplate(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = w
	}
	return out
}

// checkPinned lists every `uses:` that is neither a workflow of this repository
// nor an action pinned to a 40-character commit SHA.
func checkPinned(workflows map[string]obj) []string {
	var problems []string
	for name, w := range workflows {
		walk(w, func(m obj) {
			u, ok := m["uses"].(string)
			if !ok || strings.HasPrefix(u, "./") {
				return
			}
			if !pinnedRE.MatchString(u) {
				problems = append(problems, fmt.Sprintf("%s: uses %q is not pinned to a full commit SHA", name, u))
			}
		})
	}
	return problems
}

// checkPipeline checks what runs when: tests everywhere, deploys only from main,
// in order, each stage in its environment with OIDC credentials.
func checkPipeline(workflows map[string]obj) []string {
	var problems []string
	p := workflows["pipeline.yml"]
	jobs := asObj(get(p, "jobs"))
	on := asObj(get(p, "on"))
	if _, push := on["push"]; !push || on["pull_request"] == nil && !hasKey(on, "pull_request") {
		problems = append(problems, fmt.Sprintf("pipeline runs on %v, want every push and pull request", on))
	}
	if get(on, "push", "branches") != nil {
		problems = append(problems, "pipeline push trigger is limited to some branches: make test must run on every push")
	}
	test := jobs["test"]
	var runs []string
	for _, s := range asList(get(test, "steps")) {
		runs = append(runs, str(get(s, "run")))
	}
	if !slices.Contains(runs, "make test") || !slices.Contains(runs, "make lint") {
		problems = append(problems, fmt.Sprintf("job test runs %v, want make lint and make test", runs))
	}
	order := []struct{ job, needs string }{{"dev", "test"}, {"staging", "dev"}, {"prod", "staging"}}
	for _, o := range order {
		j := jobs[o.job]
		if j == nil {
			problems = append(problems, "no job "+o.job)
			continue
		}
		if get(j, "needs") != o.needs {
			problems = append(problems, fmt.Sprintf("job %s needs %v, want %s", o.job, get(j, "needs"), o.needs))
		}
		if get(j, "uses") != "./.github/workflows/deploy-stage.yml" || get(j, "with", "stage") != o.job {
			problems = append(problems, fmt.Sprintf("job %s is %v, want deploy-stage.yml with stage %s", o.job, j, o.job))
		}
		if get(j, "permissions", "id-token") != "write" {
			problems = append(problems, fmt.Sprintf("job %s cannot request an OIDC token (permissions %v)", o.job, get(j, "permissions")))
		}
	}
	if cond := str(get(jobs["dev"], "if")); !strings.Contains(cond, "github.ref == 'refs/heads/main'") || !strings.Contains(cond, "github.event_name == 'push'") {
		problems = append(problems, fmt.Sprintf("job dev runs if %q, want only on a push to main", cond))
	}
	d := workflows["deploy-stage.yml"]
	job := get(d, "jobs", "deploy")
	if get(job, "environment") != "${{ inputs.stage }}" {
		problems = append(problems, fmt.Sprintf("deploy job environment %v, want the stage's (${{ inputs.stage }}): the deploy role trusts only that environment", get(job, "environment")))
	}
	if get(job, "permissions", "id-token") != "write" {
		problems = append(problems, "deploy job has no id-token: write")
	}
	if get(job, "concurrency", "cancel-in-progress") != false {
		problems = append(problems, "deploy job may cancel a running deploy (concurrency.cancel-in-progress must be false)")
	}
	creds, deploys := false, false
	for _, s := range asList(get(job, "steps")) {
		if strings.HasPrefix(str(get(s, "uses")), "aws-actions/configure-aws-credentials@") {
			creds = get(s, "with", "role-to-assume") == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
			for k := range asObj(get(s, "with")) {
				if strings.Contains(k, "access-key") || strings.Contains(k, "session-token") {
					problems = append(problems, "configure-aws-credentials gets stored keys ("+k+")")
					creds = false
				}
			}
		}
		if r := str(get(s, "run")); strings.HasPrefix(r, "make deploy STAGE=") && strings.Contains(r, "--role-arn $EXECUTION_ROLE_ARN") {
			deploys = creds // after the credentials
		}
	}
	if !creds || !deploys {
		problems = append(problems, "deploy job does not assume vars.AWS_DEPLOY_ROLE_ARN by OIDC before make deploy --role-arn <execution role>")
	}
	return problems
}

func hasKey(m obj, k string) bool { _, ok := m[k]; return ok }

func TestWorkflows(t *testing.T) {
	workflows := loadWorkflows(t)
	for _, check := range []func(map[string]obj) []string{checkPinned, checkPipeline} {
		for _, p := range check(workflows) {
			t.Error(p)
		}
	}
	steps := []any{"jobs", "deploy", "steps"}
	for _, tc := range []struct {
		name  string
		file  string
		check func(map[string]obj) []string
		val   any
		path  []any
	}{
		{"tag instead of SHA", "deploy-stage.yml", checkPinned, "actions/checkout@v4", at(steps, 0, "uses")},
		{"short SHA", "pipeline.yml", checkPinned, "actions/setup-go@b7ad1da", []any{"jobs", "test", "steps", 1, "uses"}},
		{"branch", "deploy-stage.yml", checkPinned, "aws-actions/setup-sam@main", at(steps, 2, "uses")},
		{"no tests on pull requests", "pipeline.yml", checkPipeline, deleted, []any{"on", "pull_request"}},
		{"push only on main", "pipeline.yml", checkPipeline, obj{"branches": []any{"main"}}, []any{"on", "push"}},
		{"no make test", "pipeline.yml", checkPipeline, "go build ./...", []any{"jobs", "test", "steps", 3, "run"}},
		{"dev deploys from any branch", "pipeline.yml", checkPipeline, "github.event_name == 'push'", []any{"jobs", "dev", "if"}},
		{"prod before staging", "pipeline.yml", checkPipeline, "dev", []any{"jobs", "prod", "needs"}},
		{"no prod", "pipeline.yml", checkPipeline, deleted, []any{"jobs", "prod"}},
		{"one environment for all stages", "deploy-stage.yml", checkPipeline, "production", []any{"jobs", "deploy", "environment"}},
		{"no OIDC token", "deploy-stage.yml", checkPipeline, deleted, []any{"jobs", "deploy", "permissions", "id-token"}},
		{"stored keys", "deploy-stage.yml", checkPipeline, "${{ secrets.AWS_ACCESS_KEY_ID }}", at(steps, 4, "with", "aws-access-key-id")},
		{"cancels a running deploy", "deploy-stage.yml", checkPipeline, true, []any{"jobs", "deploy", "concurrency", "cancel-in-progress"}},
	} {
		broken := map[string]obj{}
		for k, v := range workflows {
			broken[k] = deepCopy(v).(obj)
		}
		setPath(broken[tc.file], tc.val, tc.path...)
		if len(tc.check(broken)) == 0 {
			t.Errorf("workflows with %q pass the check", tc.name)
		}
	}
}
