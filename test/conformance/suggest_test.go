package conformance

// `audit-lab policy suggest` on a capture of the real kube-apiserver:
// a RequestResponse sink with every stage, traffic made of controller noise
// (a kube-controller-manager, a kubelet and a service account reading all the
// time, leader-election renewals, health checks, metrics) around what must
// never be cut (writes, secret reads, a 403, a 401, an exec). The suggestion
// must load with k8s.io/apiserver's strict decoding, validation and loader,
// and `policy test` of it must show the cut it promised, with every write,
// secret access, 401/403 and exec at the level the base preset gives it.
//
// The noisy identities are static tokens (--token-auth-file): the audit
// policy sees the authenticated user, so `kubectl --as system:...` would
// still be the admin to it; a token makes the request really theirs.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	suggestNS    = "noise"
	suggestAgent = "audit-lab-conformance-suggest"
	noiseRounds  = 300
)

// A static token identity: --token-auth-file's token,user,uid,"groups".
type tokenUser struct {
	name   string
	groups []string
	token  string
}

func newToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeTokenFile(t *testing.T, dir string, users ...*tokenUser) string {
	t.Helper()
	var lines []string
	for i, u := range users {
		u.token = newToken(t)
		lines = append(lines, fmt.Sprintf("%s,%s,uid-%d,%q", u.token, u.name, i, strings.Join(u.groups, ",")))
	}
	p := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func tokenClient(t *testing.T, a *apiserver, token string) *kubernetes.Clientset {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{
		Host:            a.url(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(a.dir, "ca.crt")},
		UserAgent:       suggestAgent,
		QPS:             1000,
		Burst:           1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawStatus sends one request to the apiserver and returns its status code.
func rawStatus(t *testing.T, a *apiserver, method, path string, cfg *tls.Config, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, a.url()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", suggestAgent)
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// protectedKind says why a request must keep its level, as the README lists
// them, from the event alone (written here, not taken from the CLI).
func protectedKind(e auditv1.Event) string {
	if c := code(e); c == 401 || c == 403 {
		return "401/403"
	}
	if e.ObjectRef != nil {
		if e.ObjectRef.Resource == "secrets" {
			return "secret"
		}
		switch e.ObjectRef.Subresource {
		case "exec", "attach", "portforward", "proxy":
			return "exec"
		}
		switch e.Verb {
		case "get", "list", "watch":
			return ""
		}
		return "write"
	}
	switch e.Verb {
	case "get", "head":
		return ""
	}
	return "write"
}

type suggestion struct {
	YAML  string `json:"yaml"`
	Rules []struct {
		Index       int    `json:"index"`
		Level       string `json:"level"`
		Description string `json:"description"`
		Events      int    `json:"events"`
		Dropped     int    `json:"dropped"`
		Bytes       int    `json:"bytes"`
	} `json:"rules"`
	Before struct {
		Events int `json:"events"`
		Bytes  int `json:"bytes"`
	} `json:"before"`
	After struct {
		Events int `json:"events"`
		Bytes  int `json:"bytes"`
	} `json:"after"`
	Target float64 `json:"target"`
	Met    bool    `json:"met"`
}

type testedEvent struct {
	AuditID        string `json:"auditID"`
	Stage          string `json:"stage"`
	Rule           *int   `json:"rule"`
	Level          string `json:"level"`
	Written        bool   `json:"written"`
	EstimatedBytes int    `json:"estimatedBytes"`
}

type policyTested struct {
	Results []testedEvent `json:"results"`
	Summary struct {
		Policy struct {
			Events int `json:"events"`
			Bytes  int `json:"bytes"`
		} `json:"policy"`
	} `json:"summary"`
}

func (l *cliLab) policyTest(t *testing.T, policyArg, sink string) (policyTested, map[string]testedEvent) {
	t.Helper()
	r := l.must(t, "policy", "test", policyArg, "--sink", sink, "-o", "json")
	var out policyTested
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("policy test %s -o json: %v", policyArg, err)
	}
	by := map[string]testedEvent{}
	for _, v := range out.Results {
		k := v.AuditID + " " + v.Stage
		if _, dup := by[k]; dup {
			t.Fatalf("policy test %s: %s twice", policyArg, k)
		}
		by[k] = v
	}
	return out, by
}

var levelRanks = map[string]int{"None": 0, "Metadata": 1, "Request": 2, "RequestResponse": 3}

func TestPolicySuggest(t *testing.T) {
	clock := newStepClock(t)
	lab := newCLILab(t)
	recv, _ := lab.serve(t, "serve.log", freePort(t))
	allStages := []string{"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"}
	lab.sinkCreate(t, "full", "RequestResponse", allStages...)
	out := filepath.Join(lab.tmp, "rendered")
	rc := lab.render(t, out)
	checkCapture(t, filepath.Join(mountedDir(out), "policy.yaml"), "RequestResponse", allStages)
	wait := batchMaxWait(t, rc)
	clock.step("serve, sink create full (RequestResponse, every stage), render")

	a := newAPIServer(t, "suggest")
	kcm := &tokenUser{name: "system:kube-controller-manager"}
	node := &tokenUser{name: "system:node:worker-1", groups: []string{"system:nodes"}}
	agent := &tokenUser{name: "system:serviceaccount:" + suggestNS + ":agent", groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + suggestNS}}
	tokens := writeTokenFile(t, a.dir, kcm, node, agent)
	p := a.startLogged(t, "kube-apiserver.log", append(auditFlags(t, rc, ""), "--token-auth-file="+tokens))
	a.waitReady(t, p, 3*time.Minute)
	clock.step("kube-apiserver start until /readyz")

	// Set-up, as the admin: writes, all of them protected.
	kubectl(t, a.kubeconfig, "create", "namespace", suggestNS)
	// No controller manager runs here to make the namespace's default service account, which a pod needs.
	kubectl(t, a.kubeconfig, "create", "serviceaccount", "default", "-n", suggestNS)
	for i := 1; i <= 5; i++ {
		kubectl(t, a.kubeconfig, "create", "configmap", fmt.Sprintf("cm-%d", i), "-n", suggestNS, "--from-literal=data="+strings.Repeat("x", 2000))
	}
	kubectl(t, a.kubeconfig, "create", "clusterrole", "suggest-read", "--verb=get,list,watch", "--resource=configmaps,pods,nodes,secrets,leases.coordination.k8s.io")
	kubectl(t, a.kubeconfig, "create", "clusterrole", "suggest-lease", "--verb=create,update", "--resource=leases.coordination.k8s.io")
	kubectl(t, a.kubeconfig, "create", "clusterrole", "suggest-metrics", "--verb=get", "--non-resource-url=/metrics")
	kubectl(t, a.kubeconfig, "create", "rolebinding", "suggest-read", "-n", suggestNS, "--clusterrole=suggest-read", "--user="+kcm.name, "--serviceaccount="+suggestNS+":agent")
	kubectl(t, a.kubeconfig, "create", "rolebinding", "suggest-read", "-n", "kube-system", "--clusterrole=suggest-read", "--user="+kcm.name)
	kubectl(t, a.kubeconfig, "create", "rolebinding", "suggest-lease", "-n", "kube-system", "--clusterrole=suggest-lease", "--user="+kcm.name)
	kubectl(t, a.kubeconfig, "create", "clusterrolebinding", "suggest-node", "--clusterrole=suggest-read", "--user="+node.name)
	kubectl(t, a.kubeconfig, "create", "clusterrolebinding", "suggest-metrics", "--clusterrole=suggest-metrics", "--serviceaccount="+suggestNS+":agent")
	kubectl(t, a.kubeconfig, "create", "secret", "generic", "db", "-n", suggestNS, "--from-literal=password=hunter2")
	kubectl(t, a.kubeconfig, "get", "secret", "db", "-n", suggestNS, "-o", "name")
	cfg, err := clientcmd.BuildConfigFromFlags("", a.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Pods(suggestNS).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clock.step("set-up: namespace, config maps, RBAC, a secret, a node, a pod")

	// The noise: reads by the controller, the kubelet and the service
	// account, and leader election (get, then every 5th round a renewal).
	kc, nc, ac := tokenClient(t, a, kcm.token), tokenClient(t, a, node.token), tokenClient(t, a, agent.token)
	holder := "cp-1"
	lease, err := kc.CoordinationV1().Leases("kube-system").Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-controller-manager"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A controller reading a secret: a read by a system user, protected all the same.
	if _, err := kc.CoreV1().Secrets(suggestNS).Get(ctx, "db", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < noiseRounds; i++ {
		if _, err := kc.CoreV1().ConfigMaps(suggestNS).List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		if lease, err = kc.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			now := metav1.NowMicro()
			lease.Spec.RenewTime = &now
			if lease, err = kc.CoordinationV1().Leases("kube-system").Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := nc.CoreV1().Nodes().Get(ctx, "worker-1", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ac.CoreV1().Pods(suggestNS).List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ac.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := kc.RESTClient().Get().AbsPath("/healthz").DoRaw(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clock.step(fmt.Sprintf("noise: %d rounds of controller, kubelet and service account reads", noiseRounds))

	// What must never be cut, besides the writes above.
	// The service account's noisy read, refused in another namespace: a rule cannot see the code,
	// so the suggestion must leave that namespace's pod lists alone.
	if _, err := ac.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the service account listing pods in default: want 403 Forbidden, got %v", err)
	}
	if denied, err := kubectlRun(t, a.kubeconfig, "get", "configmaps", "-n", suggestNS, "--as", deniedUser); err == nil || !strings.Contains(denied, "(Forbidden)") {
		t.Fatalf("kubectl get configmaps --as %s: want Forbidden, got %v:\n%s", deniedUser, err, denied)
	}
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(a.dir, "ca.crt"))
	if err != nil || !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("reading the apiserver CA: %v", err)
	}
	if c := rawStatus(t, a, http.MethodGet, "/api/v1/namespaces/"+suggestNS+"/configmaps", &tls.Config{RootCAs: roots}, "bogus-token"); c != http.StatusUnauthorized {
		t.Fatalf("a bogus token: want 401, got %d", c)
	}
	// exec of a pod no node runs: refused, but audited as pods/exec.
	execCode := rawStatus(t, a, http.MethodPost, "/api/v1/namespaces/"+suggestNS+"/pods/web/exec?command=ls&stdout=true", a.adminTLS, "")
	kubectl(t, a.kubeconfig, "patch", "configmap", "cm-1", "-n", suggestNS, "--type=merge", "-p", `{"data":{"data":"patched"}}`)
	kubectl(t, a.kubeconfig, "delete", "configmap", "cm-5", "-n", suggestNS, "--wait=false")
	kubectl(t, a.kubeconfig, "create", "configmap", "suggest-marker", "-n", suggestNS)
	clock.step(fmt.Sprintf("protected requests: 403 x2, 401, exec (answered %d), patch, delete", execCode))

	// Wait for the marker, stop kube-apiserver, and wait until the stream
	// stops growing: suggest and policy test must read the same events.
	deadline := time.Now().Add(5*wait + 20*time.Second)
	for {
		evs, _ := lab.tailSink(t, "full")
		found := false
		for _, e := range evs {
			if e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Name == "suggest-marker" && e.Stage == auditv1.StageResponseComplete {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the marker config map never reached sink full\nreceiver log:\n%s", tail(recv.output(), 20))
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.stop()
	stream := filepath.Join(lab.dir, "streams", "full.log")
	last := int64(-1)
	for stable := 0; stable < 2; {
		time.Sleep(wait + 500*time.Millisecond)
		st, err := os.Stat(stream)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() == last {
			stable++
		} else {
			stable, last = 0, st.Size()
		}
	}
	sigterm(t, recv)
	clock.step("every event stored, kube-apiserver and receiver stopped")

	events, _ := lab.tailSink(t, "full")
	protectedIDs := map[string]string{}
	kinds := map[string]int{}
	for _, e := range events {
		if k := protectedKind(e.Event); k != "" {
			if _, seen := protectedIDs[string(e.AuditID)]; !seen {
				kinds[k]++
			}
			protectedIDs[string(e.AuditID)] = k
		}
	}
	execSeen := false
	for _, e := range events {
		if e.ObjectRef != nil && e.ObjectRef.Subresource == "exec" && e.ObjectRef.Name == "web" {
			execSeen = true
		}
	}
	if !execSeen || kinds["401/403"] < 3 || kinds["secret"] < 3 || kinds["write"] < 10 {
		t.Fatalf("the capture lacks protected requests: exec captured %t, requests by kind %v", execSeen, kinds)
	}
	t.Logf("sink full: %d events, %d protected requests (by kind: %v)", len(events), len(protectedIDs), kinds)

	r := lab.must(t, "policy", "suggest", "--sink", "full", "--target", "50%", "-o", "json")
	var s suggestion
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("policy suggest -o json: %v\n%s", err, r)
	}
	t.Logf("$ audit-lab policy suggest --sink full --target 50%%\n%s", r.stderr)
	if plain := lab.must(t, "policy", "suggest", "--sink", "full", "--target", "50%"); plain.stdout != s.YAML {
		t.Errorf("policy suggest printed another policy the second time (or -o json's yaml differs):\n%s\n---\n%s", plain.stdout, s.YAML)
	}
	clock.step("policy suggest --sink full --target 50% (twice)")

	// Valid for kube-apiserver: strict decoding and validation, then its own loader.
	p2, err := strictPolicy([]byte(s.YAML))
	if err != nil {
		t.Fatalf("the suggested policy, decoded strictly by k8s.io/apiserver: %v\n%s", err, s.YAML)
	}
	if _, err := policy.LoadPolicyFromBytes([]byte(s.YAML)); err != nil {
		t.Fatalf("k8s.io/apiserver LoadPolicyFromBytes of the suggested policy: %v\n%s", err, s.YAML)
	}
	if len(s.Rules) == 0 || len(p2.Rules) <= len(s.Rules) {
		t.Fatalf("want suggested rules in front of the preset's: %d suggested, %d in the policy\n%s", len(s.Rules), len(p2.Rules), s.YAML)
	}
	suggested := filepath.Join(lab.tmp, "suggested.yaml")
	if err := os.WriteFile(suggested, []byte(s.YAML), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("suggested policy (k8s.io/apiserver loads it: %d rules, %d new):\n%s", len(p2.Rules), len(s.Rules), s.YAML)

	base, baseBy := lab.policyTest(t, "preset:recommended", "full")
	after, afterBy := lab.policyTest(t, suggested, "full")
	clock.step("policy test of preset:recommended and of the suggestion")

	if len(after.Results) != len(events) || len(base.Results) != len(events) {
		t.Fatalf("policy test judged %d and %d events; the sink holds %d", len(base.Results), len(after.Results), len(events))
	}
	checked := 0
	for _, e := range events {
		k := string(e.AuditID) + " " + string(e.Stage)
		b, ok1 := baseBy[k]
		v, ok2 := afterBy[k]
		if !ok1 || !ok2 {
			t.Fatalf("policy test has no verdict for %s", k)
		}
		if levelRanks[v.Level] > levelRanks[b.Level] || v.EstimatedBytes > b.EstimatedBytes {
			t.Errorf("%s: the suggestion logs more than the preset: %s (%d bytes) against %s (%d bytes)", describe(e.Event), v.Level, v.EstimatedBytes, b.Level, b.EstimatedBytes)
		}
		kind := protectedIDs[string(e.AuditID)]
		if kind == "" {
			continue
		}
		checked++
		if v.Level != b.Level || v.Written != b.Written || v.EstimatedBytes != b.EstimatedBytes || (v.Rule != nil && *v.Rule < len(s.Rules)) {
			rule := "none"
			if v.Rule != nil {
				rule = strconv.Itoa(*v.Rule)
			}
			t.Errorf("protected (%s) %s: with the suggestion level %s written %t (%d bytes, rule %s), with the preset level %s written %t (%d bytes)",
				kind, describe(e.Event), v.Level, v.Written, v.EstimatedBytes, rule, b.Level, b.Written, b.EstimatedBytes)
		}
	}
	if s.Before.Bytes != base.Summary.Policy.Bytes || s.After.Bytes != after.Summary.Policy.Bytes || s.After.Events != after.Summary.Policy.Events {
		t.Errorf("suggest promised %d -> %d bytes (%d events written); policy test reports %d -> %d bytes (%d events)",
			s.Before.Bytes, s.After.Bytes, s.After.Events, base.Summary.Policy.Bytes, after.Summary.Policy.Bytes, after.Summary.Policy.Events)
	}
	if !s.Met || float64(after.Summary.Policy.Bytes) > 0.5*float64(base.Summary.Policy.Bytes) {
		t.Errorf("target 50%% not met: %d of %d bytes (met=%t)", after.Summary.Policy.Bytes, base.Summary.Policy.Bytes, s.Met)
	}
	for _, rule := range s.Rules {
		t.Logf("rule %d (%s): %d events, %d dropped, %d bytes removed: %s", rule.Index, rule.Level, rule.Events, rule.Dropped, rule.Bytes, rule.Description)
	}
	t.Logf("suggest: %d events in sink full; written with preset:recommended %d events, %d bytes; with the suggestion %d events, %d bytes (%.1f%%); %d events of %d protected requests checked one by one",
		len(events), base.Summary.Policy.Events, base.Summary.Policy.Bytes, after.Summary.Policy.Events, after.Summary.Policy.Bytes,
		100*float64(after.Summary.Policy.Bytes)/float64(base.Summary.Policy.Bytes), checked, len(protectedIDs))
	clock.total()
}
