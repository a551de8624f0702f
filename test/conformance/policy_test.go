package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditinstall "k8s.io/apiserver/pkg/apis/audit/install"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/apis/audit/validation"
	"k8s.io/apiserver/pkg/audit/policy"
)

// strictPolicy decodes like the apiserver's first attempt, but without its
// fallback: kube-apiserver only warns on an unknown field and then loads the
// policy leniently, so a misspelled rule field would silently widen or
// narrow what gets audited. Here it is an error.
func strictPolicy(raw []byte) (*auditinternal.Policy, error) {
	scheme := runtime.NewScheme()
	auditinstall.Install(scheme)
	p := &auditinternal.Policy{}
	_, gvk, err := serializer.NewCodecFactory(scheme, serializer.EnableStrict).
		UniversalDecoder(auditv1.SchemeGroupVersion).Decode(raw, nil, p)
	if err != nil {
		return nil, err
	}
	if gvk.GroupVersion() != auditv1.SchemeGroupVersion || gvk.Kind != "Policy" {
		return nil, &wrongKindError{gvk.String()}
	}
	if errs := validation.ValidatePolicy(p); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return p, nil
}

type wrongKindError struct{ got string }

func (e *wrongKindError) Error() string { return "want audit.k8s.io/v1 Policy, got " + e.got }

func TestRenderedPolicies(t *testing.T) {
	for dir, path := range renderedFiles(t, "policy.yaml") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p, err := strictPolicy(raw)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			// The loader kube-apiserver itself runs at start; it also
			// refuses an empty rule list, which audit-lab relies on
			// ("without --audit-policy-file the webhook records nothing").
			if _, err := policy.LoadPolicyFromBytes(raw); err != nil {
				t.Fatalf("k8s.io/apiserver LoadPolicyFromBytes: %v", err)
			}
			t.Logf("%s: %d rules, omitStages=%v", filepath.Base(dir), len(p.Rules), p.OmitStages)
		})
	}
}

// TestPolicyCheckRejects proves the checks above bite, on variants of a
// rendered policy: a misspelled field, an invalid level, a missing kind.
func TestPolicyCheckRejects(t *testing.T) {
	var raw []byte
	for _, path := range renderedFiles(t, "policy.yaml") {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		raw = b
		break
	}
	cases := []struct{ name, doc, want string }{
		{"unknown field", "omitStagez: [Panic]\n" + string(raw), "unknown field"},
		{"invalid level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n", "rules[0].level"},
		{"invalid stage", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Done]\nrules:\n- level: None\n", "omitStages"},
		{"old version", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n", "audit.k8s.io/v1beta1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := strictPolicy([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
	if _, err := policy.LoadPolicyFromBytes([]byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n")); err == nil {
		t.Fatal("upstream loader accepted a policy with no rules")
	}
}
