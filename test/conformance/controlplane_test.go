package conformance

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// binaryPath finds kube-apiserver or etcd in $CONFORMANCE_BIN_DIR, where
// run.sh builds them from the pinned k8s.io/kubernetes and etcd modules.
func binaryPath(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("CONFORMANCE_BIN_DIR")
	if dir == "" {
		t.Fatal("CONFORMANCE_BIN_DIR is not set: run this through test/conformance/run.sh")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// process is a child we started; stop ends only it, by its pid.
type process struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error
}

func startProcess(t *testing.T, logFile string, name string, args ...string) *process {
	t.Helper()
	return startCmd(t, logFile, exec.Command(name, args...))
}

// startCmd starts a prepared command (own environment, say) with its
// stdout and stderr in logFile; it is stopped by pid when the test ends.
func startCmd(t *testing.T, logFile string, cmd *exec.Cmd) *process {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	name := cmd.Path
	cmd.Stdout, cmd.Stderr = f, f
	keepStdinOpen(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *process) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stdinPipes holds the write ends of our children's stdin. They are never
// written or closed: they close when the test binary exits, however it
// exits, and etcd takes that as its cue to stop. Holding them here also
// keeps the garbage collector from closing them early.
var stdinPipes []io.WriteCloser

func keepStdinOpen(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdinPipes = append(stdinPipes, w)
}

var (
	etcdOnce sync.Once
	etcdURL  string
	etcdErr  error
	etcdCmd  *exec.Cmd // stopped, and etcdDir removed, by TestMain
	etcdDir  string
)

// sharedEtcd starts one etcd for the whole package run; each apiserver gets
// its own key prefix. It is stopped by etcd noticing our exit (stdin).
func sharedEtcd(t *testing.T) string {
	t.Helper()
	etcdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "conformance-etcd-")
		if err != nil {
			etcdErr = err
			return
		}
		etcdDir = dir
		client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		log := filepath.Join(dir, "etcd.log")
		f, err := os.Create(log)
		if err != nil {
			etcdErr = err
			return
		}
		cmd := exec.Command(binaryPath(t, "etcd"), "-data-dir", filepath.Join(dir, "data"), "-client-url", client, "-peer-url", peer)
		cmd.Stderr = f
		out, _ := cmd.StdoutPipe()
		keepStdinOpen(t, cmd)
		if err := cmd.Start(); err != nil {
			etcdErr = err
			return
		}
		ready := make(chan error, 1)
		go func() {
			buf := make([]byte, 64)
			n, err := io.ReadAtLeast(out, buf, len("etcd ready"))
			if err == nil && strings.HasPrefix(string(buf[:n]), "etcd ready") {
				ready <- nil
			} else {
				ready <- fmt.Errorf("etcd did not report ready: %v", err)
			}
			_, _ = io.Copy(io.Discard, out)
		}()
		select {
		case etcdErr = <-ready:
		case <-time.After(90 * time.Second):
			etcdErr = fmt.Errorf("etcd not ready after 90s")
		}
		if etcdErr != nil {
			b, _ := os.ReadFile(log)
			etcdErr = fmt.Errorf("%v\n%s", etcdErr, tail(string(b), 30))
			_ = cmd.Process.Kill()
			return
		}
		etcdURL, etcdCmd = client, cmd
	})
	if etcdErr != nil {
		t.Fatal(etcdErr)
	}
	return etcdURL
}

func stopSharedEtcd() {
	if etcdCmd != nil {
		_ = etcdCmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = etcdCmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = etcdCmd.Process.Kill()
		}
	}
	if etcdDir != "" {
		_ = os.RemoveAll(etcdDir)
	}
}

// apiserver is a kube-apiserver on loopback with its own serving and admin
// certificates; only the audit flags come from the rendered config.
type apiserver struct {
	dir        string
	port       int
	baseArgs   []string
	adminTLS   *tls.Config
	kubeconfig string
}

func newAPIServer(t *testing.T, name string) *apiserver {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, "conformance control plane CA")
	serving := ca.issue(t, "kube-apiserver", nil, []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"}, x509.ExtKeyUsageServerAuth)
	admin := ca.issue(t, "conformance-admin", []string{"system:masters"}, nil, nil, x509.ExtKeyUsageClientAuth)
	servingCrt, servingKey := writePair(t, dir, "serving", serving)
	adminCrt, adminKey := writePair(t, dir, "admin", admin)
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, certPEM(ca.cert.Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	sa := serviceAccountKey(t, dir)
	a := &apiserver{dir: dir, port: freePort(t)}
	a.baseArgs = []string{
		"--etcd-servers=" + sharedEtcd(t),
		"--etcd-prefix=/conformance/" + name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(a.port),
		"--tls-cert-file=" + servingCrt,
		"--tls-private-key-file=" + servingKey,
		// Static admin identity: a client cert in system:masters. Simpler
		// than tokens and the same mechanism kind's admin kubeconfig uses.
		"--client-ca-file=" + caFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + sa,
		"--service-account-signing-key-file=" + sa,
		"--service-cluster-ip-range=10.96.0.0/24",
		// The default reconciler would publish 127.0.0.1 as the endpoint of
		// the kubernetes Service; there is no cluster network to serve.
		"--endpoint-reconciler-type=none",
	}
	a.adminTLS = &tls.Config{Certificates: []tls.Certificate{admin}, RootCAs: ca.pool()}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["conformance"] = &clientcmdapi.Cluster{Server: a.url(), CertificateAuthority: caFile}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: adminCrt, ClientKey: adminKey}
	kc.Contexts["conformance"] = &clientcmdapi.Context{Cluster: "conformance", AuthInfo: "admin"}
	kc.CurrentContext = "conformance"
	a.kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, a.kubeconfig); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *apiserver) url() string { return fmt.Sprintf("https://127.0.0.1:%d", a.port) }

func (a *apiserver) start(t *testing.T, extra []string) *process {
	t.Helper()
	args := append(append([]string{}, a.baseArgs...), extra...)
	return startProcess(t, filepath.Join(a.dir, "kube-apiserver.log"), binaryPath(t, "kube-apiserver"), args...)
}

// waitReady polls /readyz until it answers 200, the process exits, or time runs out.
func (a *apiserver) waitReady(t *testing.T, p *process, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: a.adminTLS}}
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("kube-apiserver exited (%v) before it was ready:\n%s", p.err, tail(p.output(), 40))
		default:
		}
		resp, err := client.Get(a.url() + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("kube-apiserver not ready after %s (last: %s):\n%s", within, tail(last, 15), tail(p.output(), 40))
}

// auditFlags turns the rendered apiServer.extraArgs into kube-apiserver
// flags, with every path under /etc/kubernetes/audit-lab followed through
// extraVolumes and extraMounts to the host directory that holds it (the
// render --out dir's apiserver/, or mountRoot when a test substitutes a
// modified copy).
func auditFlags(t *testing.T, rc renderedCluster, mountRoot string) []string {
	t.Helper()
	keys := make([]string, 0, len(rc.ExtraArgs))
	for k := range rc.ExtraArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var flags []string
	for _, k := range keys {
		v := rc.ExtraArgs[k]
		if rel, ok := under(v, labMountPath); ok {
			host := rc.hostPathFor(t, v)
			if mountRoot != "" {
				host = filepath.Join(mountRoot, rel)
			}
			if _, err := os.Stat(host); err != nil {
				t.Fatalf("--%s=%s resolves to %s on the host: %v", k, v, host, err)
			}
			v = host
		}
		flags = append(flags, "--"+k+"="+v)
	}
	return flags
}

// receiver is a stand-in for audit-lab's receiver, configured only from the
// rendered files: it listens where webhook.kubeconfig points, serves a
// certificate from the lab CA, and demands a client certificate from the
// same CA (mutual TLS).
type receiver struct {
	mu      sync.Mutex
	batches []auditv1.EventList
	peers   []string
	bad     []string
}

func webhookTarget(t *testing.T, kubeconfig string) (*url.URL, []byte) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatalf("webhook.kubeconfig: %v", err)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		t.Fatalf("webhook.kubeconfig: current-context %q is not defined", cfg.CurrentContext)
	}
	cl, ok := cfg.Clusters[ctx.Cluster]
	if !ok {
		t.Fatalf("webhook.kubeconfig: cluster %q is not defined", ctx.Cluster)
	}
	u, err := url.Parse(cl.Server)
	if err != nil {
		t.Fatalf("webhook.kubeconfig server: %v", err)
	}
	if len(cl.CertificateAuthorityData) == 0 {
		t.Fatal("webhook.kubeconfig has no certificate-authority-data")
	}
	return u, cl.CertificateAuthorityData
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

func startReceiver(t *testing.T, dir string) *receiver {
	t.Helper()
	u, caPEM := webhookTarget(t, filepath.Join(mountedDir(dir), "webhook.kubeconfig"))
	if !isLoopback(u.Hostname()) {
		t.Fatalf("webhook server %s is not on loopback", u)
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(caPEM) {
		t.Fatal("webhook.kubeconfig certificate-authority-data holds no PEM certificate")
	}
	serverCert := receiverCert(t, dir, u.Hostname(), clientCAs)

	r := &receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc(u.Path, func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var list auditv1.EventList
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err := dec.Decode(&list)
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case req.Method != http.MethodPost:
			r.bad = append(r.bad, "method "+req.Method)
		case err != nil:
			r.bad = append(r.bad, "body: "+err.Error())
		case list.APIVersion != "audit.k8s.io/v1" || list.Kind != "EventList":
			r.bad = append(r.bad, "type "+list.APIVersion+"/"+list.Kind)
		default:
			r.batches = append(r.batches, list)
			r.peers = append(r.peers, req.TLS.PeerCertificates[0].Subject.CommonName)
		}
		w.WriteHeader(http.StatusOK)
	})
	l, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Fatalf("receiver cannot listen on %s (rendered port taken?): %v", u.Host, err)
	}
	srv := &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    clientCAs,
		},
		ErrorLog: nil,
	}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

// receiverCert prefers the serving pair render wrote (pki/server.*), when it
// is valid for the webhook host under the kubeconfig's CA; otherwise it
// signs one with pki/ca.key. With neither, the receiver side of the mutual
// TLS link cannot be reproduced, which is a contract failure.
func receiverCert(t *testing.T, dir, host string, roots *x509.CertPool) tls.Certificate {
	t.Helper()
	pki := filepath.Join(dir, "pki")
	if pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "server.crt"), filepath.Join(pki, "server.key")); err == nil {
		leaf, _ := x509.ParseCertificate(pair.Certificate[0])
		if _, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); verr == nil {
			t.Logf("receiver uses the rendered pki/server.crt")
			return pair
		} else {
			t.Logf("rendered pki/server.crt does not fit %s (%v); signing one with pki/ca.key", host, verr)
		}
	}
	caCrt, caKey := filepath.Join(pki, "ca.crt"), filepath.Join(pki, "ca.key")
	if _, err := os.Stat(caKey); err != nil {
		t.Fatalf("%s: need pki/server.{crt,key} valid for %s, or pki/ca.{crt,key} to sign one: %v", dir, host, err)
	}
	ca := loadCA(t, caCrt, caKey)
	if _, err := ca.cert.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Fatalf("%s: pki/ca.crt is not the CA in webhook.kubeconfig: %v", dir, err)
	}
	var ips []net.IP
	var names []string
	if ip := net.ParseIP(host); ip != nil {
		ips = append(ips, ip)
	} else {
		names = append(names, host)
	}
	return ca.issue(t, "conformance receiver", nil, ips, names, x509.ExtKeyUsageServerAuth)
}

func (r *receiver) snapshot() (events []auditv1.Event, batches int, peers, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		events = append(events, b.Items...)
	}
	return events, len(r.batches), append([]string{}, r.peers...), append([]string{}, r.bad...)
}

func kubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is not on PATH; the control plane test drives the apiserver with the real kubectl")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(kubeconfig))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// loopbackStaticRenders are the static renders whose webhook points at
// loopback; run.sh renders one with --receiver-host 127.0.0.1.
func loopbackStaticRenders(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for dir, kc := range renderedFiles(t, "webhook.kubeconfig") {
		u, _ := webhookTarget(t, kc)
		if isLoopback(u.Hostname()) {
			dirs = append(dirs, dir)
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no static render has its webhook on loopback: render one with --receiver-host 127.0.0.1")
	}
	sort.Strings(dirs)
	return dirs
}

// TestControlPlaneAuditWebhook runs the real kube-apiserver with the
// rendered audit flags, policy and webhook kubeconfig, makes requests with
// kubectl, and checks the receiver gets them as audit.k8s.io/v1 EventList
// batches over mutual TLS.
func TestControlPlaneAuditWebhook(t *testing.T) {
	for _, dir := range loopbackStaticRenders(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			rc := loadKindConfig(t, dir)
			for _, k := range []string{"audit-policy-file", "audit-webhook-config-file"} {
				if _, ok := rc.ExtraArgs[k]; !ok {
					t.Fatalf("config.yaml apiServer.extraArgs has no %s", k)
				}
			}
			// The mounts must lead back to this very render directory's mounted one.
			policyHost := rc.hostPathFor(t, rc.ExtraArgs["audit-policy-file"])
			if got, want := filepath.Dir(policyHost), mountedDir(dir); !sameDir(got, want) {
				t.Fatalf("audit-policy-file resolves to %s, outside the render dir %s", policyHost, want)
			}
			recv := startReceiver(t, dir)
			a := newAPIServer(t, filepath.Base(dir))
			started := time.Now()
			p := a.start(t, auditFlags(t, rc, ""))
			a.waitReady(t, p, 3*time.Minute)
			t.Logf("kube-apiserver ready after %s", time.Since(started).Round(time.Millisecond))

			name := "conformance-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
			kubectl(t, a.kubeconfig, "create", "configmap", name, "--namespace=default", "--from-literal=k=v")
			kubectl(t, a.kubeconfig, "get", "configmap", name, "--namespace=default", "-o", "name")

			var events []auditv1.Event
			var batches int
			var peers, bad []string
			deadline := time.Now().Add(45 * time.Second)
			for {
				events, batches, peers, bad = recv.snapshot()
				if hasEvent(events, "create", name) && hasEvent(events, "get", name) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no audit events for kubectl's create/get of configmap %s after 45s (%d batches, %d events, rejected: %v)\nkube-apiserver log:\n%s",
						name, batches, len(events), bad, tail(p.output(), 30))
				}
				time.Sleep(250 * time.Millisecond)
			}
			if len(bad) > 0 {
				t.Errorf("receiver got malformed requests: %v", bad)
			}
			for _, e := range events {
				if e.ObjectRef != nil && e.ObjectRef.Name == name {
					t.Logf("event: %s %s %s stage=%s level=%s user=%s", e.Verb, e.ObjectRef.Resource, e.ObjectRef.Name, e.Stage, e.Level, e.User.Username)
				}
			}
			t.Logf("%d batches, %d events, client cert CN %q", batches, len(events), peers[0])
		})
	}
}

func hasEvent(events []auditv1.Event, verb, name string) bool {
	for _, e := range events {
		if e.Verb == verb && e.ObjectRef != nil && e.ObjectRef.Resource == "configmaps" && e.ObjectRef.Name == name &&
			e.User.Username == "conformance-admin" {
			return true
		}
	}
	return false
}

func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// TestControlPlaneRejectsBrokenInput is the control for the test above: the
// same harness, given a rendered set with one thing broken, must see
// kube-apiserver refuse to start and say why in its own words. Otherwise a
// green run could mean the audit flags were never read.
func TestControlPlaneRejectsBrokenInput(t *testing.T) {
	dir := loopbackStaticRenders(t)[0]
	rc := loadKindConfig(t, dir)

	cases := []struct {
		name string
		// breakIt edits a copy of the render's mounted dir and/or the flags.
		breakIt func(t *testing.T, copyDir string, flags []string) []string
		want    string
	}{
		{"misspelled flag", func(t *testing.T, _ string, flags []string) []string {
			return replaceFlagName(t, flags, "audit-webhook-batch-max-wait", "audit-webhook-batch-max-wiat")
		}, "unknown flag: --audit-webhook-batch-max-wiat"},
		{"bad batch duration", func(t *testing.T, _ string, flags []string) []string {
			return setFlag(t, flags, "audit-webhook-batch-max-wait", "1 second")
		}, `invalid argument "1 second" for "--audit-webhook-batch-max-wait"`},
		{"invalid policy level", func(t *testing.T, d string, flags []string) []string {
			editYAML(t, filepath.Join(d, "policy.yaml"), func(m map[string]interface{}) {
				m["rules"].([]interface{})[0].(map[string]interface{})["level"] = "Everything"
			})
			return flags
		}, "loading audit policy file: rules[0].level: Unsupported value"},
		{"policy without rules", func(t *testing.T, d string, flags []string) []string {
			writeFile(t, filepath.Join(d, "policy.yaml"), "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n")
			return flags
		}, "loaded illegal policy with 0 rules"},
		{"webhook kubeconfig with a bad CA", func(t *testing.T, d string, flags []string) []string {
			editKubeconfigField(t, filepath.Join(d, "webhook.kubeconfig"), "certificate-authority-data", "bm90IGEgY2VydGlmaWNhdGUK")
			return flags
		}, "unable to load root certificates"},
		{"webhook kubeconfig with a bad client key", func(t *testing.T, d string, flags []string) []string {
			editKubeconfigField(t, filepath.Join(d, "webhook.kubeconfig"), "client-key-data", "bm90IGEga2V5Cg==")
			return flags
		}, "tls: failed to find any PEM data in key input"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			copyDir := copyRender(t, mountedDir(dir))
			flags := c.breakIt(t, copyDir, auditFlags(t, rc, copyDir))
			a := newAPIServer(t, "broken")
			p := a.start(t, flags)
			select {
			case <-p.exited:
			case <-time.After(90 * time.Second):
				t.Fatalf("kube-apiserver still running 90s after start; want it to refuse %s:\n%s", c.name, tail(p.output(), 20))
			}
			out := p.output()
			if p.err == nil || !strings.Contains(out, c.want) {
				t.Fatalf("want kube-apiserver to fail with %q, got exit %v:\n%s", c.want, p.err, tail(out, 20))
			}
			t.Logf("kube-apiserver: %s", lineWith(out, c.want))
		})
	}

	// An unknown policy field is only a warning upstream (strict decode, then
	// a lenient fallback), which is why TestRenderedPolicies is strict.
	t.Run("unknown-policy-field-only-warns", func(t *testing.T) {
		copyDir := copyRender(t, mountedDir(dir))
		editYAML(t, filepath.Join(copyDir, "policy.yaml"), func(m map[string]interface{}) {
			m["omitStagez"] = []string{"Panic"}
		})
		a := newAPIServer(t, "lenient")
		p := a.start(t, auditFlags(t, rc, copyDir))
		a.waitReady(t, p, 3*time.Minute)
		const want = "Audit policy contains errors, falling back to lenient decoding"
		if !strings.Contains(p.output(), want) {
			t.Fatalf("want the warning %q:\n%s", want, tail(p.output(), 20))
		}
		t.Logf("kube-apiserver: %s", lineWith(p.output(), want))
	})

	// Dynamic mode's flags are gone from current Kubernetes; kube-apiserver
	// must reject them, which is why dynamic mode needs a <= 1.18 image.
	t.Run("dynamic-flags-on-current-apiserver", func(t *testing.T) {
		var dyn *renderedCluster
		for d := range renderedFiles(t, "audit.yaml") {
			r := loadKindConfig(t, d)
			dyn = &r
			break
		}
		a := newAPIServer(t, "dynamic")
		p := a.start(t, auditFlags(t, *dyn, ""))
		select {
		case <-p.exited:
		case <-time.After(90 * time.Second):
			t.Fatal("kube-apiserver accepted the dynamic audit flags")
		}
		const want = "unknown flag: --audit-dynamic-configuration"
		if !strings.Contains(p.output(), want) {
			t.Fatalf("want %q:\n%s", want, tail(p.output(), 20))
		}
	})
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// copyRender copies the regular files of a render dir (and pki/) so a test
// can break one of them without touching the original.
func copyRender(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// editYAML rewrites a YAML file through edit; going through a map keeps the
// edit independent of how render indents or orders things.
func editYAML(t *testing.T, p string, edit func(map[string]interface{})) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	edit(m)
	out, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, string(out))
}

// editKubeconfigField replaces the value of the first "key: value" line.
func editKubeconfigField(t *testing.T, p, key, value string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, key+":") {
			lines[i] = l[:strings.Index(l, key)] + key + ": " + value
			writeFile(t, p, strings.Join(lines, "\n"))
			return
		}
	}
	t.Fatalf("%s has no %s line", p, key)
}

func replaceFlagName(t *testing.T, flags []string, from, to string) []string {
	t.Helper()
	out := append([]string{}, flags...)
	for i, f := range out {
		if strings.HasPrefix(f, "--"+from+"=") {
			out[i] = "--" + to + f[len(from)+2:]
			return out
		}
	}
	t.Fatalf("rendered flags have no --%s: %v", from, flags)
	return nil
}

func setFlag(t *testing.T, flags []string, name, value string) []string {
	t.Helper()
	out := append([]string{}, flags...)
	for i, f := range out {
		if strings.HasPrefix(f, "--"+name+"=") {
			out[i] = "--" + name + "=" + value
			return out
		}
	}
	t.Fatalf("rendered flags have no --%s: %v", name, flags)
	return nil
}
