// Command policydiff evaluates audit policies with the real k8s.io/apiserver evaluator
// (policy.NewPolicyRuleEvaluator + EvaluatePolicyRule), so audit-lab's TypeScript engine can be
// compared with upstream on the same inputs. The inputs are written by gen.mjs; this program
// only reads them.
//
//	policydiff eval  -cases DIR -out FILE   one JSON line per policy: its load error or its decisions
//	policydiff bench -cases DIR [-min 2s]   evaluations per second, timing evaluation only
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditinstall "k8s.io/apiserver/pkg/apis/audit/install"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	auditpkg "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

type policyCase struct {
	ID   string `json:"id"`
	YAML string `json:"yaml"`
}

// loaded is a policy as kube-apiserver would load it, or why it would not.
type loaded struct {
	policy *auditinternal.Policy
	// kind is "decode", "validate" or "empty"; message is upstream's text.
	kind, message string
}

var decoder runtime.Decoder

func init() {
	scheme := runtime.NewScheme()
	auditinstall.Install(scheme)
	// Strict, like the loader's first attempt. kube-apiserver then retries leniently and only
	// warns; audit-lab treats an unknown field as an error, so both sides must reject it here.
	decoder = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDecoder(auditv1.SchemeGroupVersion)
}

func load(raw []byte) loaded {
	_, _, err := decoder.Decode(raw, nil, &auditinternal.Policy{})
	if err != nil {
		return loaded{kind: "decode", message: err.Error()}
	}
	// Strictly decodable: now exactly what kube-apiserver runs at start.
	p, err := policy.LoadPolicyFromBytes(raw)
	var agg utilerrors.Aggregate
	switch {
	case err == nil:
		return loaded{policy: p}
	case errors.As(err, &agg):
		return loaded{kind: "validate", message: err.Error()}
	case err.Error() == "loaded illegal policy with 0 rules":
		return loaded{kind: "empty", message: err.Error()}
	default:
		return loaded{kind: "decode", message: err.Error()}
	}
}

// attributes builds what the API server's audit filter gives the evaluator, from the event it
// would have written: objectRef is set exactly for resource requests, and a non-resource
// request's path is req.URL.Path, of which requestURI is req.URL.RequestURI().
//
// An event whose user has no username is a request that failed authentication (a 401): the API
// server evaluated its policy with no user at all, which no users or userGroups rule matches.
func attributes(ev *auditv1.Event, noUser bool) authorizer.Attributes {
	a := authorizer.AttributesRecord{Verb: ev.Verb}
	if !noUser {
		a.User = &user.DefaultInfo{Name: ev.User.Username, Groups: ev.User.Groups}
	}
	if ev.ObjectRef != nil {
		a.ResourceRequest = true
		a.Namespace = ev.ObjectRef.Namespace
		a.APIGroup = ev.ObjectRef.APIGroup
		a.APIVersion = ev.ObjectRef.APIVersion
		a.Resource = ev.ObjectRef.Resource
		a.Subresource = ev.ObjectRef.Subresource
		a.Name = ev.ObjectRef.Name
		return a
	}
	if u, err := url.ParseRequestURI(ev.RequestURI); err == nil {
		a.Path = u.Path
	} else {
		// Cannot come from a real request; audit-lab falls back the same way.
		a.Path, _, _ = strings.Cut(ev.RequestURI, "?")
	}
	return a
}

func readCases(dir string) ([]policyCase, []authorizer.Attributes, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "policies.json"))
	if err != nil {
		return nil, nil, err
	}
	var policies []policyCase
	if err := json.Unmarshal(raw, &policies); err != nil {
		return nil, nil, fmt.Errorf("policies.json: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var attrs []authorizer.Attributes
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		ev := &auditv1.Event{}
		if err := json.Unmarshal(sc.Bytes(), ev); err != nil {
			return nil, nil, fmt.Errorf("events.jsonl:%d: %w", line, err)
		}
		// The typed Event cannot tell "username": "" from no username; the raw JSON can.
		var who struct {
			User struct {
				Username *string `json:"username"`
			} `json:"user"`
		}
		if err := json.Unmarshal(sc.Bytes(), &who); err != nil {
			return nil, nil, fmt.Errorf("events.jsonl:%d: %w", line, err)
		}
		attrs = append(attrs, attributes(ev, who.User.Username == nil))
	}
	return policies, attrs, sc.Err()
}

var stageOrder = map[auditinternal.Stage]int{
	auditinternal.StageRequestReceived:  0,
	auditinternal.StageResponseStarted:  1,
	auditinternal.StageResponseComplete: 2,
	auditinternal.StagePanic:            3,
}

// stagesString is the set of stages in lifecycle order. Omitted stages are a set: upstream
// returns the policy's own list, duplicates and all, when no rule matches, and a map's keys (in
// random order) when one does.
func stagesString(stages []auditinternal.Stage) string {
	sorted := append([]auditinternal.Stage(nil), stages...)
	sort.Slice(sorted, func(i, j int) bool { return stageOrder[sorted[i]] < stageOrder[sorted[j]] })
	s := make([]string, 0, len(sorted))
	for i, st := range sorted {
		if i == 0 || st != sorted[i-1] {
			s = append(s, string(st))
		}
	}
	return strings.Join(s, ",")
}

type result struct {
	Policy  string `json:"policy"`
	Kind    string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	// One [rule, level, omitStages, omitManagedFields] per event, in the events' order; rule is
	// -1 when no rule matched.
	Decisions [][4]any `json:"decisions,omitempty"`
}

func eval(dir, out string) error {
	policies, attrs, err := readCases(dir)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, pc := range policies {
		l := load([]byte(pc.YAML))
		r := result{Policy: pc.ID, Kind: l.kind, Message: l.message}
		if l.policy != nil {
			levels := make([]auditinternal.Level, len(l.policy.Rules))
			// The evaluator does not say which rule matched; give each rule its index as level
			// (it returns the rule's level as is), and keep the real levels aside.
			marked := l.policy.DeepCopy()
			for i := range marked.Rules {
				levels[i] = marked.Rules[i].Level
				marked.Rules[i].Level = auditinternal.Level("#" + strconv.Itoa(i))
			}
			ev := policy.NewPolicyRuleEvaluator(marked)
			r.Decisions = make([][4]any, len(attrs))
			for i, a := range attrs {
				cfg := ev.EvaluatePolicyRule(a)
				rule, level := -1, cfg.Level
				if strings.HasPrefix(string(cfg.Level), "#") {
					rule, _ = strconv.Atoi(string(cfg.Level[1:]))
					level = levels[rule]
				}
				r.Decisions[i] = [4]any{rule, string(level), stagesString(cfg.OmitStages), cfg.OmitManagedFields}
			}
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func bench(dir string, min time.Duration) error {
	policies, attrs, err := readCases(dir)
	if err != nil {
		return err
	}
	var evaluators []auditpkg.PolicyRuleEvaluator
	for _, pc := range policies {
		if l := load([]byte(pc.YAML)); l.policy != nil {
			evaluators = append(evaluators, policy.NewPolicyRuleEvaluator(l.policy))
		}
	}
	if len(evaluators) == 0 || len(attrs) == 0 {
		return fmt.Errorf("nothing to evaluate in %s", dir)
	}
	sink := 0
	round := func() {
		for _, ev := range evaluators {
			for _, a := range attrs {
				sink += len(ev.EvaluatePolicyRule(a).Level)
			}
		}
	}
	round() // warm-up
	n := 0
	start := time.Now()
	for time.Since(start) < min {
		round()
		n++
	}
	elapsed := time.Since(start)
	evals := n * len(evaluators) * len(attrs)
	fmt.Printf("{\"evaluations\":%d,\"seconds\":%.6f,\"perSecond\":%.0f,\"policies\":%d,\"events\":%d,\"checksum\":%d}\n",
		evals, elapsed.Seconds(), float64(evals)/elapsed.Seconds(), len(evaluators), len(attrs), sink)
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: policydiff eval -cases DIR -out FILE | bench -cases DIR [-min 2s]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	cases := fs.String("cases", "", "directory with policies.json and events.jsonl")
	out := fs.String("out", "", "eval: where to write the results")
	min := fs.Duration("min", 2*time.Second, "bench: run at least this long")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "eval":
		err = eval(*cases, *out)
	case "bench":
		err = bench(*cases, *min)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "policydiff:", err)
		os.Exit(1)
	}
}
