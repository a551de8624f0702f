// Package auditsink checks every rendered audit.yaml against the AuditSink
// API as Kubernetes 1.13–1.18 served it: strict decoding into the upstream
// k8s.io/api v0.18 types (an unknown or misspelled field is an error, where
// the API server would have silently dropped it), the v1alpha1 defaults,
// then the rules of kubernetes pkg/apis/auditregistration/validation.
//
// That validation package lives in k8s.io/kubernetes 1.18, which cannot be
// required as a module without its whole staging tree, so its rules are
// restated in validate.go; the helpers it called (ObjectMeta validation,
// DNS-1123 checks) are imported from apimachinery v0.18 unchanged.
package auditsink

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	auditregv1alpha1 "k8s.io/api/auditregistration/v1alpha1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// renderDirs returns the render --out directories under $CONFORMANCE_RENDERED
// (run.sh sets it). It fails rather than skips when there is nothing to
// check: a conformance run that checked nothing must not look green.
func renderDirs(t *testing.T) []string {
	t.Helper()
	root := os.Getenv("CONFORMANCE_RENDERED")
	if root == "" {
		t.Fatal("CONFORMANCE_RENDERED is not set: run this through test/conformance/run.sh")
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("reading CONFORMANCE_RENDERED: %v", err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no render directories under %s", root)
	}
	return dirs
}

func TestRenderedAuditSinks(t *testing.T) {
	checked := 0
	for _, dir := range renderDirs(t) {
		path := filepath.Join(dir, "audit.yaml")
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // static renders have no AuditSinks
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			docs := splitDocuments(t, raw)
			if len(docs) == 0 {
				t.Fatalf("%s holds no documents", path)
			}
			names := map[string]bool{}
			for i, doc := range docs {
				sink, err := decodeStrict(doc)
				if err != nil {
					t.Errorf("%s document %d: %v", path, i, err)
					continue
				}
				if names[sink.Name] {
					t.Errorf("%s: AuditSink %q appears twice; kubectl create would fail with AlreadyExists", path, sink.Name)
				}
				names[sink.Name] = true
				for _, fe := range ValidateAuditSink(sink) {
					t.Errorf("%s AuditSink %q: %v", path, sink.Name, fe)
				}
				for _, msg := range auditLabRules(sink) {
					t.Errorf("%s AuditSink %q: %s", path, sink.Name, msg)
				}
				t.Logf("%s: AuditSink %q level=%s stages=%v qps=%d burst=%d url=%s", filepath.Base(dir), sink.Name,
					sink.Spec.Policy.Level, sink.Spec.Policy.Stages, *sink.Spec.Webhook.Throttle.QPS,
					*sink.Spec.Webhook.Throttle.Burst, *sink.Spec.Webhook.ClientConfig.URL)
			}
		})
		checked++
	}
	if checked == 0 {
		t.Fatal("no render directory had an audit.yaml: render --mode dynamic must have run")
	}
}

// splitDocuments splits a multi-document YAML stream the way kubectl does,
// dropping documents that are empty or only comments.
func splitDocuments(t *testing.T, raw []byte) [][]byte {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufioReader(raw))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return docs
		}
		if err != nil {
			t.Fatalf("splitting YAML documents: %v", err)
		}
		var probe map[string]interface{}
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			t.Fatalf("YAML document: %v", err)
		}
		if len(probe) > 0 {
			docs = append(docs, doc)
		}
	}
}

// decodeStrict decodes one document into the upstream type, refusing unknown
// and duplicate fields, checks its type meta, and applies the v1alpha1
// defaults the API server would have applied before validating.
func decodeStrict(doc []byte) (*auditregv1alpha1.AuditSink, error) {
	sink := &auditregv1alpha1.AuditSink{}
	if err := yaml.UnmarshalStrict(doc, sink); err != nil {
		return nil, err
	}
	if got, want := sink.APIVersion, auditregv1alpha1.SchemeGroupVersion.String(); got != want {
		return nil, errors.New("apiVersion is " + got + ", want " + want)
	}
	if sink.Kind != "AuditSink" {
		return nil, errors.New("kind is " + sink.Kind + ", want AuditSink")
	}
	setDefaults(sink)
	return sink, nil
}

// auditLabRules are audit-lab's own promises on top of the API's rules
// (HTTPS with the lab CA in caBundle, an unguessable token in the
// URL path). The API accepted http and an empty caBundle; audit-lab must not.
func auditLabRules(sink *auditregv1alpha1.AuditSink) []string {
	var msgs []string
	cc := sink.Spec.Webhook.ClientConfig
	if cc.URL == nil || !strings.HasPrefix(*cc.URL, "https://") {
		msgs = append(msgs, "clientConfig.url must be https:// (audit-lab's receiver only speaks TLS)")
	}
	if cc.Service != nil {
		msgs = append(msgs, "clientConfig.service is set; audit-lab's receiver runs outside the cluster")
	}
	if len(cc.CABundle) == 0 {
		msgs = append(msgs, "clientConfig.caBundle is empty; the API server could not trust the receiver")
		return msgs
	}
	rest := bytes.TrimSpace(cc.CABundle)
	n := 0
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			msgs = append(msgs, "clientConfig.caBundle holds data that is not PEM")
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			msgs = append(msgs, "clientConfig.caBundle: "+err.Error())
		}
		n++
		rest = bytes.TrimSpace(rest)
	}
	if n == 0 {
		msgs = append(msgs, "clientConfig.caBundle holds no certificate")
	}
	return msgs
}
