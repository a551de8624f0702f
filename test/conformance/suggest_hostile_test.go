package conformance

// `audit-lab policy suggest` on audit logs full of names that a policy reads as patterns ("*",
// "*/x", "pods/*", group "*", URLs "*" and "/x*", namespace "*") or that YAML reads as something
// other than a string (0o17, 017, 0x1F, 1e3, .inf, 1:20, yes/No/ON, ~, null, =, <<, dates, 1_000),
// read heavily by several system users. Every suggestion must load with k8s.io/apiserver's own
// loader, and k8s.io/apiserver's evaluator must give no protected request (a write, any access to
// secrets, exec/attach/portforward/proxy, a request without a user as a 401 has) a lower level with
// the suggestion than with the base preset alone: for users, namespaces, groups and resources in
// the input and not in it. No kube-apiserver runs here: the logs are generated, the CLI is the
// built one ($CONFORMANCE_CLI).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// hostileYAMLNames are strings some YAML 1.1 or 1.2 reader, go-yaml included, takes for
// something else when they are written plain.
func hostileYAMLNames() []string {
	var out []string
	for _, w := range []string{"y", "n", "yes", "no", "on", "off", "true", "false", "null", "inf", "nan"} {
		out = append(out, caseVariants(w)...)
	}
	for _, n := range []string{"0", "17", "017", "0o17", "0O17", "0x1F", "0b101", "1_000", "0x_1f", "1e3", "1E3", "1.5", ".5", "0x1p-2", "685.230_15e+03"} {
		out = append(out, n, "+"+n, "-"+n)
	}
	out = append(out, ".inf", "-.Inf", ".NaN", "1:20", "190:20:30.15", "2001-12-14", "2002-1-2", "2001-12-14t21:59:43.10-05:00",
		"~", "=", "<<", "-", "?", ":", "!x", "&a", "%x", "@x", "`x", "|", ">", "'", `"`, "#", "a #b", "a: b", "a:", "[a]", "{a}", "a,b", " lead", "trail ", "- x")
	return out
}

func caseVariants(w string) []string {
	out := []string{""}
	for _, c := range w {
		var next []string
		for _, p := range out {
			lo, up := p+strings.ToLower(string(c)), p+strings.ToUpper(string(c))
			next = append(next, lo)
			if up != lo {
				next = append(next, up)
			}
		}
		out = next
	}
	return out
}

// dnsSubdomain says whether an API group name passes the policy loader's validation.
func dnsSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

type who struct {
	name   string
	groups []string
}

func serviceAccount(ns, name string) who {
	return who{"system:serviceaccount:" + ns + ":" + name, []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
}

// auditLog writes audit.k8s.io/v1 events, one request each (stage ResponseComplete, level
// RequestResponse, so every level can be estimated from them).
type auditLog struct {
	lines []string
}

type logged struct {
	user        *who // nil: no user (a 401)
	verb        string
	uri         string
	resource    *resourceRef
	code        int
	bodyBytes   int
	requestBody bool
}

type resourceRef struct {
	apiGroup, resource, subresource, namespace, name string
}

func (l *auditLog) emit(t *testing.T, r logged) {
	t.Helper()
	n := len(l.lines) + 1
	ev := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "stage": "ResponseComplete",
		"auditID":    fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		"requestURI": r.uri, "verb": r.verb, "user": map[string]any{},
		"sourceIPs": []string{"10.0.0.7"}, "userAgent": suggestAgent,
		"requestReceivedTimestamp": "2026-01-01T10:00:00.000000Z", "stageTimestamp": "2026-01-01T10:00:00.100000Z",
	}
	if r.user != nil {
		ev["user"] = map[string]any{"username": r.user.name, "groups": r.user.groups}
	}
	if ref := r.resource; ref != nil {
		o := map[string]any{"apiVersion": "v1", "resource": ref.resource}
		for k, v := range map[string]string{"apiGroup": ref.apiGroup, "subresource": ref.subresource, "namespace": ref.namespace, "name": ref.name} {
			if v != "" {
				o[k] = v
			}
		}
		ev["objectRef"] = o
	}
	code := r.code
	if code == 0 {
		code = 200
	}
	ev["responseStatus"] = map[string]any{"metadata": map[string]any{}, "code": code}
	if r.bodyBytes > 0 {
		ev["responseObject"] = map[string]any{"kind": "List", "apiVersion": "v1", "metadata": map[string]any{}, "items": []string{strings.Repeat("x", r.bodyBytes)}}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	l.lines = append(l.lines, string(b))
}

func (l *auditLog) write(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(strings.Join(l.lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hostileScenario is one generated input: the users and names it holds.
type hostileScenario struct {
	name       string
	users      []who
	namespaces []string
	apiGroups  []string
	resources  []string // "resource" or "resource/subresource", as logged
	paths      []string
	// A 403 of the first user's first read, in another namespace: the rule must leave it out.
	refused bool
	// The names are hostileYAMLNames: the suggestion must carry many of them.
	yamlNames bool
}

// hostileWritten counts the hostile YAML names the first n rules of p carry, as loaded.
func hostileWritten(p *auditinternal.Policy, n int) int {
	hostile := map[string]bool{}
	for _, h := range hostileYAMLNames() {
		hostile[h] = true
	}
	found := map[string]bool{}
	for _, r := range p.Rules[:n] {
		names := append([]string{}, r.Namespaces...)
		for _, g := range r.Resources {
			names = append(append(names, g.Group), g.Resources...)
		}
		for _, name := range names {
			if hostile[name] {
				found[name] = true
			}
		}
	}
	return len(found)
}

func hostileScenarios() []hostileScenario {
	reader := serviceAccount("tools", "reader")
	kcm := who{"system:kube-controller-manager", []string{"system:authenticated"}}
	node := who{"system:node:worker-1", []string{"system:nodes", "system:authenticated"}}
	odd := serviceAccount("0o17", "yes")
	var yamlNames, yamlGroups []string
	for _, n := range hostileYAMLNames() {
		// A "/" would make two names of one, as objectRef never holds.
		if !strings.Contains(n, "/") {
			yamlNames = append(yamlNames, n)
		}
		if dnsSubdomain(n) {
			yamlGroups = append(yamlGroups, n)
		}
	}
	return []hostileScenario{
		{
			name:       "wildcards (the report: GET /api/v1/* and pods/* by one service account)",
			users:      []who{reader},
			namespaces: []string{"tools"},
			apiGroups:  []string{""},
			resources:  []string{"*", "pods/*", "configmaps"},
			paths:      []string{"/metrics"},
		},
		{
			name:       "every wildcard form, by several system users",
			users:      []who{reader, kcm, node},
			namespaces: []string{"tools", "*", ""},
			apiGroups:  []string{"", "*", "apps"},
			resources:  []string{"*", "*/x", "x/*", "pods/*", "*/status", "*/*", "configmaps", "pods/log"},
			paths:      []string{"*", "/x*", "/metrics", "/api/*"},
			refused:    true,
		},
		{
			name:       "names YAML reads as other types, by several system users",
			users:      []who{kcm, node, odd},
			namespaces: append([]string{"0o17", ""}, yamlNames[:40]...),
			apiGroups:  append([]string{""}, yamlGroups...),
			resources:  yamlNames,
			paths:      []string{"/metrics", "/0o17", "/yes"},
			refused:    true,
			yamlNames:  true,
		},
	}
}

// inputLog is the scenario's noise: each user reads each resource in each namespace and group a
// few times, and each path, plus what must be kept: a 401 with no user, an admin's secret read and
// exec, and, if the scenario says so, a 403 on one of the noisy reads.
func (s hostileScenario) inputLog(t *testing.T) *auditLog {
	l := &auditLog{}
	for round := 0; round < 4; round++ {
		for ui := range s.users {
			u := &s.users[ui]
			for i, res := range s.resources {
				r, sub, _ := strings.Cut(res, "/")
				ns := s.namespaces[(i+ui+round)%len(s.namespaces)]
				g := s.apiGroups[(i+round)%len(s.apiGroups)]
				verb := []string{"get", "list", "watch"}[(i+ui)%3]
				l.emit(t, logged{user: u, verb: verb, uri: "/apis/" + g + "/v1/namespaces/" + ns + "/" + res, resource: &resourceRef{g, r, sub, ns, ""}, bodyBytes: 1500})
			}
			for _, p := range s.paths {
				l.emit(t, logged{user: u, verb: "get", uri: p, bodyBytes: 800})
			}
		}
	}
	if s.refused {
		r, sub, _ := strings.Cut(s.resources[0], "/")
		l.emit(t, logged{user: &s.users[0], verb: "list", uri: "/x", resource: &resourceRef{s.apiGroups[0], r, sub, "locked", ""}, code: 403})
	}
	admin := &who{"kubernetes-admin", []string{"system:masters", "system:authenticated"}}
	l.emit(t, logged{verb: "get", uri: s.paths[0], code: 401})
	l.emit(t, logged{user: admin, verb: "get", uri: "/x", resource: &resourceRef{"", "secrets", "", s.namespaces[0], "token"}, bodyBytes: 300})
	l.emit(t, logged{user: admin, verb: "create", uri: "/x", resource: &resourceRef{"", "pods", "exec", s.namespaces[0], "web"}, code: 101})
	return l
}

// protectedRequests are what no suggestion may lower: for users of the input and others, and no
// user at all, in the input's namespaces and others, secrets (any group, any subresource),
// exec/attach/portforward/proxy, writes, and every read without a user. Each name of the input is
// taken once with the others in turn (not all their combinations, which run into the millions),
// and always with the core group, "*", no namespace and one outside the input.
func (s hostileScenario) protectedRequests() []authorizer.AttributesRecord {
	users := []user.Info{nil}
	for _, u := range append(append([]who{}, s.users...), serviceAccount("other", "spy"), who{"system:node:worker-9", []string{"system:nodes", "system:authenticated"}}, who{"kubernetes-admin", []string{"system:masters", "system:authenticated"}}) {
		users = append(users, &user.DefaultInfo{Name: u.name, Groups: u.groups})
	}
	var resources, subresources []string
	for _, res := range s.resources {
		r, sub, _ := strings.Cut(res, "/")
		resources = append(resources, r)
		subresources = append(subresources, sub)
	}
	resources = uniqueStrings(append(resources, "pods", "configmaps"))
	subresources = uniqueStrings(append(subresources, "status", "*"))
	namespaces := uniqueStrings(s.namespaces)
	groups := uniqueStrings(append(append([]string{}, s.apiGroups...), "apps"))
	n := max(len(resources), len(subresources), len(namespaces), len(groups))

	type shape struct{ verb, group, resource, sub, ns string }
	var shapes []shape
	ns := ""
	add := func(verbs []string, group, resource string, subs ...string) {
		for _, v := range verbs {
			for _, sub := range subs {
				shapes = append(shapes, shape{v, group, resource, sub, ns})
			}
		}
	}
	for i := 0; i < n; i++ {
		r, sub := resources[i%len(resources)], subresources[i%len(subresources)]
		ns = namespaces[i%len(namespaces)]
		for _, g := range uniqueStrings([]string{groups[i%len(groups)], "", "*"}) {
			add([]string{"get", "list", "watch", "create", "delete"}, g, "secrets", "", sub, "status")
			add([]string{"get", "create"}, g, r, "exec", "attach", "portforward", "proxy")
			add([]string{"create", "update", "patch", "delete", "deletecollection", "impersonate"}, g, r, "", sub, "*")
			add([]string{"get", "list", "watch"}, g, r, "", sub, "*") // protected only without a user
		}
	}
	isRead := func(v string) bool { return v == "get" || v == "list" || v == "watch" }
	seen := map[shape]bool{}
	unique := shapes[:0]
	for _, sh := range shapes {
		if !seen[sh] {
			seen[sh] = true
			unique = append(unique, sh)
		}
	}
	var out []authorizer.AttributesRecord
	for _, u := range users {
		for _, sh := range unique {
			if u != nil && sh.resource != "secrets" && isRead(sh.verb) && !isChannel(sh.sub) {
				continue
			}
			for _, ns := range uniqueStrings([]string{sh.ns, "other", ""}) {
				out = append(out, authorizer.AttributesRecord{User: u, Verb: sh.verb, Namespace: ns, APIGroup: sh.group, Resource: sh.resource, Subresource: sh.sub, Name: "n1", ResourceRequest: true})
			}
		}
		for _, p := range uniqueStrings(append(append([]string{}, s.paths...), "/metrics", "*", "/x*", "/api", "/healthz", "/version", "/apis/x")) {
			for _, v := range []string{"get", "head", "post", "put", "patch", "delete"} {
				if u != nil && (v == "get" || v == "head") {
					continue
				}
				out = append(out, authorizer.AttributesRecord{User: u, Verb: v, Path: p})
			}
		}
	}
	return out
}

func isChannel(sub string) bool {
	return sub == "exec" || sub == "attach" || sub == "portforward" || sub == "proxy"
}

func uniqueStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func loadEvaluator(t *testing.T, what string, raw []byte) (*auditinternal.Policy, func(authorizer.Attributes) auditinternal.Level) {
	t.Helper()
	p, err := policy.LoadPolicyFromBytes(raw)
	if err != nil {
		t.Fatalf("k8s.io/apiserver LoadPolicyFromBytes of %s: %v\n%s", what, err, raw)
	}
	e := policy.NewPolicyRuleEvaluator(p)
	return p, func(a authorizer.Attributes) auditinternal.Level { return e.EvaluatePolicyRule(a).Level }
}

func describeAttrs(a authorizer.AttributesRecord) string {
	u := "(no user)"
	if a.User != nil {
		u = a.User.GetName()
	}
	if !a.ResourceRequest {
		return fmt.Sprintf("%s %s %q", u, a.Verb, a.Path)
	}
	return fmt.Sprintf("%s %s group %q resource %q subresource %q in %q", u, a.Verb, a.APIGroup, a.Resource, a.Subresource, a.Namespace)
}

func TestSuggestHostileNames(t *testing.T) {
	lab := newCLILab(t)
	root := filepath.Dir(filepath.Dir(lab.cli))
	suggested := 0
	for i, sc := range hostileScenarios() {
		for _, preset := range []string{"recommended", "request-response"} {
			t.Run(fmt.Sprintf("%d %s from %s", i, sc.name, preset), func(t *testing.T) {
				start := time.Now()
				logPath := filepath.Join(lab.tmp, fmt.Sprintf("hostile-%d.log", i))
				in := sc.inputLog(t)
				in.write(t, logPath)
				baseRaw, err := os.ReadFile(filepath.Join(root, "templates", "policies", preset+".yaml"))
				if err != nil {
					t.Fatal(err)
				}
				_, base := loadEvaluator(t, preset+".yaml", baseRaw)

				cliStart := time.Now()
				r := lab.must(t, "policy", "suggest", "--file", logPath, "--from", "preset:"+preset, "-o", "json")
				cliTook := time.Since(cliStart)
				var s suggestion
				if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
					t.Fatalf("policy suggest -o json: %v\n%s", err, r)
				}
				p, after := loadEvaluator(t, "the suggested policy", []byte(s.YAML))
				if _, err := strictPolicy([]byte(s.YAML)); err != nil {
					t.Fatalf("the suggested policy, decoded strictly by k8s.io/apiserver: %v\n%s", err, s.YAML)
				}
				suggested += len(s.Rules)

				probes := sc.protectedRequests()
				var lowered []string
				for _, a := range probes {
					if want, got := base(a), after(a); levelRanks[string(got)] < levelRanks[string(want)] {
						lowered = append(lowered, fmt.Sprintf("%s: %s with %s, %s with the suggestion", describeAttrs(a), want, preset, got))
					}
				}
				if len(lowered) > 0 {
					if len(lowered) > 20 {
						lowered = append(lowered[:20], fmt.Sprintf("... and %d more", len(lowered)-20))
					}
					t.Errorf("the suggestion gives protected requests a lower level than %s alone:\n  %s\nsuggested policy:\n%s", preset, strings.Join(lowered, "\n  "), s.YAML)
				}
				if sc.yamlNames && hostileWritten(p, len(s.Rules)) < 20 {
					t.Errorf("the suggestion names %d of the input's hostile names; want at least 20, so that the loader reads them:\n%s", hostileWritten(p, len(s.Rules)), s.YAML)
				}
				t.Logf("%s (policy suggest %s): %d events in, %d rules suggested (%d rules loaded by k8s.io/apiserver), %d -> %d bytes; %d protected requests checked with k8s.io/apiserver's evaluator",
					time.Since(start).Round(time.Millisecond), cliTook.Round(time.Millisecond), len(in.lines), len(s.Rules), len(p.Rules), s.Before.Bytes, s.After.Bytes, len(probes))
			})
		}
	}
	if suggested == 0 {
		t.Error("no scenario got a suggested rule: nothing was checked")
	}
}
