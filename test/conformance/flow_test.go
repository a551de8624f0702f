package conformance

// The flow a user sees, with audit-lab's own
// receiver instead of the stand-in of controlplane_test.go: `audit-lab
// serve` runs as a child process on loopback, sinks are made with `audit-lab
// sink create`, the files come from `audit-lab render` of that lab, and
// kube-apiserver (v1.37.2, built by run.sh) sends its batches there. What the
// user would read, `audit-lab tail --no-follow -o jsonl --sink X`, is what
// the assertions look at.
//
// Each test has its own AUDIT_LAB_HOME and a fake `kind` first on PATH that
// lists no cluster, so `sink create` only rewrites files and says the cluster
// is not running; the test then restarts its kube-apiserver with re-rendered
// files, which is what `sink create` would do to a kind node. A fake `docker`
// that always fails keeps the real one out of it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// The identity our requests carry (newAPIServer's admin client cert) and
// whom the denied request impersonates.
const (
	adminUser     = "conformance-admin"
	deniedUser    = "someone"
	faultsAgent   = "audit-lab-conformance-faults"
	kubectlPrefix = "kubectl/"
)

// ---------------------------------------------------------------- timings

// stepClock logs each step's wall time as "timing: <step> <duration>", so
// a slow or hanging step is visible in run.sh's output.
type stepClock struct {
	t    *testing.T
	last time.Time
	t0   time.Time
}

func newStepClock(t *testing.T) *stepClock {
	now := time.Now()
	return &stepClock{t: t, last: now, t0: now}
}

func (c *stepClock) step(name string) time.Duration {
	c.t.Helper()
	d := time.Since(c.last)
	c.last = time.Now()
	c.t.Logf("timing: %-48s %6s", name, d.Round(10*time.Millisecond))
	return d
}

func (c *stepClock) total() {
	c.t.Helper()
	c.t.Logf("timing: %-48s %6s", "total", time.Since(c.t0).Round(10*time.Millisecond))
}

// ---------------------------------------------------------------- the CLI

// cliLab is one AUDIT_LAB_HOME driven through the built CLI.
type cliLab struct {
	home string
	dir  string // <home>/audit-lab, the lab directory
	env  []string
	cli  string
	tmp  string
}

func auditLabCLI(t *testing.T) string {
	t.Helper()
	cli := os.Getenv("CONFORMANCE_CLI")
	if cli == "" {
		t.Fatal("CONFORMANCE_CLI is not set: run this through test/conformance/run.sh")
	}
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("CONFORMANCE_CLI: %v", err)
	}
	main := filepath.Join(filepath.Dir(filepath.Dir(cli)), "dist", "main.js")
	if _, err := os.Stat(main); err != nil {
		t.Fatalf("%s is missing: run 'npm run build' first (%v)", main, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not on PATH; the flow tests run the built CLI")
	}
	return cli
}

func newCLILab(t *testing.T) *cliLab {
	t.Helper()
	cli := auditLabCLI(t)
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	bin := filepath.Join(tmp, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// `kind get clusters` lists nothing; anything else kind or docker is
	// asked is a surprise and fails loudly.
	writeExec(t, filepath.Join(bin, "kind"), `#!/bin/sh
if [ "$1 $2" = "get clusters" ]; then exit 0; fi
echo "fake kind (conformance flow test): unexpected call: kind $*" >&2
exit 1
`)
	writeExec(t, filepath.Join(bin, "docker"), `#!/bin/sh
echo "fake docker (conformance flow test): unexpected call: docker $*" >&2
exit 1
`)
	env := []string{}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AUDIT_LAB_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "NO_COLOR=") || strings.HasPrefix(kv, "FORCE_COLOR=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "AUDIT_LAB_HOME="+home, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "NO_COLOR=1")
	return &cliLab{home: home, dir: filepath.Join(home, "audit-lab"), env: env, cli: cli, tmp: tmp}
}

func writeExec(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
		t.Fatal(err)
	}
}

type cliResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("$ audit-lab %s\nexit %d\nstdout:\n%sstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

func (l *cliLab) run(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{l.cli}, args...)...)
	cmd.Env = l.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{args: args, stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("audit-lab %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// must runs a command that has to succeed.
func (l *cliLab) must(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := l.run(t, args...)
	if r.code != 0 {
		t.Fatalf("audit-lab command failed:\n%s", r)
	}
	return r
}

// serve starts `audit-lab serve --address 127.0.0.1 [--port N] [extra...]`
// and waits for the URL it prints. port < 0 leaves --port out (the lab's
// saved port).
func (l *cliLab) serve(t *testing.T, logName string, port int, extra ...string) (*process, string) {
	t.Helper()
	p, url, err := l.startServe(t, logName, port, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return p, url
}

// startServe is serve without t.Fatal, for use from another goroutine.
func (l *cliLab) startServe(t *testing.T, logName string, port int, extra ...string) (*process, string, error) {
	args := []string{l.cli, "serve", "--address", "127.0.0.1"}
	if port >= 0 {
		args = append(args, "--port", strconv.Itoa(port))
	}
	args = append(args, extra...)
	cmdline := "$ audit-lab " + strings.Join(args[1:], " ")
	logFile := filepath.Join(l.tmp, logName)
	f, err := os.Create(logFile)
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command("node", args...)
	cmd.Env = l.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("%s: %v", cmdline, err)
	}
	p := &process{cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.output(), "\n") {
			if strings.HasPrefix(line, "https://") {
				return p, strings.TrimSpace(line), nil
			}
		}
		select {
		case <-p.exited:
			return nil, "", fmt.Errorf("%s\nexited (%v) before printing its URL:\n%s", cmdline, p.err, p.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, "", fmt.Errorf("%s\nprinted no URL within 30s:\n%s", cmdline, p.output())
}

// sigterm stops serve with SIGTERM, the way a service manager does.
func sigterm(t *testing.T, p *process) time.Duration {
	t.Helper()
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to audit-lab serve (pid %d): %v", p.cmd.Process.Pid, err)
	}
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("audit-lab serve still running 20s after SIGTERM:\n%s", tail(p.output(), 20))
	}
	if p.err != nil {
		t.Errorf("audit-lab serve exited with %v after SIGTERM, want a clean exit 0:\n%s", p.err, tail(p.output(), 20))
	}
	return time.Since(t0)
}

type labState struct {
	Mode     string `json:"mode"`
	Receiver struct {
		Address string `json:"address"`
		Port    int    `json:"port"`
	} `json:"receiver"`
	Sinks []struct {
		Name   string   `json:"name"`
		Level  string   `json:"level"`
		Stages []string `json:"stages"`
	} `json:"sinks"`
}

func (l *cliLab) state(t *testing.T) labState {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.dir, "state.json"))
	if err != nil {
		t.Fatalf("lab state: %v", err)
	}
	var s labState
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("lab state.json: %v", err)
	}
	return s
}

// sinkCreate runs `audit-lab sink create` in static mode with no cluster.
// A failing command is an error of the test, but the flow goes on when the
// lab state has the sink anyway, so one run reports every misbehaviour.
func (l *cliLab) sinkCreate(t *testing.T, name, level string, stages ...string) cliResult {
	t.Helper()
	args := []string{"sink", "create", name, "--level", level}
	for _, s := range stages {
		args = append(args, "--stage", s)
	}
	r := l.run(t, args...)
	t.Logf("$ audit-lab %s -> exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	if r.code != 0 {
		t.Errorf("CLI: audit-lab sink create failed (static mode, no cluster):\n%s", r)
	}
	found := false
	for _, s := range l.state(t).Sinks {
		if s.Name == name {
			found = true
			if s.Level != level || strings.Join(s.Stages, ",") != strings.Join(stages, ",") {
				t.Fatalf("lab state has sink %s as %s %v, want %s %v", name, s.Level, s.Stages, level, stages)
			}
		}
	}
	if !found {
		t.Fatalf("lab state has no sink %q after sink create:\n%s", name, r)
	}
	return r
}

// render writes the lab's files with the receiver on loopback and checks
// that config.yaml mounts that very directory's apiserver/.
func (l *cliLab) render(t *testing.T, out string) renderedCluster {
	t.Helper()
	l.must(t, "render", "--receiver-host", "127.0.0.1", "--out", out)
	rc := loadKindConfig(t, out)
	for _, k := range []string{"audit-policy-file", "audit-webhook-config-file", "audit-webhook-batch-max-wait"} {
		if _, ok := rc.ExtraArgs[k]; !ok {
			t.Fatalf("%s/config.yaml apiServer.extraArgs has no %s", out, k)
		}
	}
	if got := filepath.Dir(rc.hostPathFor(t, rc.ExtraArgs["audit-policy-file"])); !sameDir(got, mountedDir(out)) {
		t.Fatalf("rendered audit-policy-file resolves to %s, not into the render dir's %s", got, mountedDir(out))
	}
	return rc
}

// storedEvent is one line of a sink's stream.
type storedEvent struct {
	auditv1.Event
	line int
}

// tailSink runs `audit-lab tail --no-follow -o jsonl --sink X` and decodes
// every line strictly as an audit.k8s.io/v1 Event.
func (l *cliLab) tailSink(t *testing.T, sink string) ([]storedEvent, string) {
	t.Helper()
	r := l.must(t, "tail", "--no-follow", "-o", "jsonl", "--sink", sink)
	var events []storedEvent
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			t.Fatalf("tail --sink %s: line %d is empty", sink, n)
		}
		var e auditv1.Event
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("tail --sink %s: line %d is not an audit.k8s.io/v1 Event: %v\n%s", sink, n, err, line)
		}
		if e.APIVersion != "audit.k8s.io/v1" || e.Kind != "Event" {
			t.Fatalf("tail --sink %s: line %d is %s/%s, want audit.k8s.io/v1 Event", sink, n, e.APIVersion, e.Kind)
		}
		events = append(events, storedEvent{Event: e, line: n})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return events, r.stdout
}

// ---------------------------------------------------------------- helpers

func (a *apiserver) startLogged(t *testing.T, logName string, extra []string) *process {
	t.Helper()
	args := append(append([]string{}, a.baseArgs...), extra...)
	return startProcess(t, filepath.Join(a.dir, logName), binaryPath(t, "kube-apiserver"), args...)
}

// kubectlRun is kubectl without failing the test: for the denied request.
func kubectlRun(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(kubeconfig))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func batchMaxWait(t *testing.T, rc renderedCluster) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(rc.ExtraArgs["audit-webhook-batch-max-wait"])
	if err != nil {
		t.Fatalf("audit-webhook-batch-max-wait: %v", err)
	}
	return d
}

func code(e auditv1.Event) int32 {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

func impersonated(e auditv1.Event) string {
	if e.ImpersonatedUser == nil {
		return ""
	}
	return e.ImpersonatedUser.Username
}

func describe(e auditv1.Event) string {
	ref := "-"
	if e.ObjectRef != nil {
		ref = e.ObjectRef.Resource + " " + e.ObjectRef.Namespace + "/" + e.ObjectRef.Name
	}
	as := ""
	if u := impersonated(e); u != "" {
		as = " as=" + u
	}
	return fmt.Sprintf("%s %s %s code=%d stage=%s level=%s user=%s%s reqObj=%t respObj=%t id=%s",
		e.Verb, ref, e.RequestURI, code(e), e.Stage, e.Level, e.User.Username, as,
		e.RequestObject != nil, e.ResponseObject != nil, e.AuditID)
}

// duplicates lists the (auditID, stage) pairs a stream holds more than once.
func duplicates(events []storedEvent) []string {
	seen := map[string]int{}
	for _, e := range events {
		seen[string(e.AuditID)+" "+string(e.Stage)]++
	}
	var d []string
	for k, n := range seen {
		if n > 1 {
			d = append(d, fmt.Sprintf("%s x%d", k, n))
		}
	}
	sort.Strings(d)
	return d
}

// ---------------------------------------------------------------- serve --port 0

// TestServeFreePort: `serve --port 0` picks a free port, prints its URL and
// saves the port in state.json, where `render` and a second `serve` find it.
func TestServeFreePort(t *testing.T) {
	clock := newStepClock(t)
	lab := newCLILab(t)
	p, url := lab.serve(t, "serve-port0.log", 0)
	clock.step("serve --port 0 (until it prints its URL)")
	st := lab.state(t)
	if st.Receiver.Port == 0 {
		t.Fatalf("state.json receiver.port is 0 after serve --port 0 printed %s", url)
	}
	if want := fmt.Sprintf("https://127.0.0.1:%d", st.Receiver.Port); url != want {
		t.Fatalf("serve --port 0 printed %s, state.json says %s", url, want)
	}
	sigterm(t, p)
	clock.step("SIGTERM")
	t.Logf("serve --port 0 listened on %s (saved in state.json)", url)
}

// ---------------------------------------------------------------- the user flow

// request is one kubectl request of the flow and what each sink must hold.
type request struct {
	what     string // for messages
	verb     string
	resource string
	ns       string
	name     string
	code     int32
	as       string
	reqObj   bool // full sink: requestObject at ResponseComplete
	respObj  bool // full sink: responseObject at ResponseComplete
}

func (r request) matches(e auditv1.Event) bool {
	return e.Verb == r.verb && e.ObjectRef != nil && e.ObjectRef.Resource == r.resource &&
		e.ObjectRef.Namespace == r.ns && e.ObjectRef.Name == r.name && impersonated(e) == r.as
}

// ours keeps the events of our kubectl requests to resources: our user, the
// kubectl user agent, an objectRef. What is left out is the apiserver's own
// traffic and kubectl's discovery (non-resource GETs), which is counted.
func ours(events []storedEvent) (kept []storedEvent, discovery, other int) {
	for _, e := range events {
		switch {
		case e.User.Username != adminUser || !strings.HasPrefix(e.UserAgent, kubectlPrefix):
			other++
		case e.ObjectRef == nil:
			discovery++
		default:
			kept = append(kept, e)
		}
	}
	return
}

type sinkWant struct {
	name   string
	level  auditv1.Level
	stages []auditv1.Stage
}

// group is one request in a stream: its events by auditID, in stream order.
type group struct {
	id     string
	events []storedEvent
}

// final is the event that knows most about the request: ResponseComplete
// when the sink has it (at RequestReceived a create has no name yet).
func (g group) final() auditv1.Event {
	for _, e := range g.events {
		if e.Stage == auditv1.StageResponseComplete {
			return e.Event
		}
	}
	return g.events[len(g.events)-1].Event
}

func groups(events []storedEvent) []group {
	var out []group
	at := map[string]int{}
	for _, e := range events {
		id := string(e.AuditID)
		i, ok := at[id]
		if !ok {
			i = len(out)
			at[id] = i
			out = append(out, group{id: id})
		}
		out[i].events = append(out[i].events, e)
	}
	return out
}

// checkSink compares one sink's events of our requests with the requests
// made: each request is one auditID (taken in stream order, so two alike
// requests match two auditIDs), with exactly the stages the sink asks for,
// its level and the objects that level keeps, and nothing else is there.
// Returns the auditID of each request.
func checkSink(sink sinkWant, events []storedEvent, reqs []request) (ids map[string]string, problems []string) {
	ids = map[string]string{}
	gs := groups(events)
	used := map[string]bool{}
	for _, r := range reqs {
		var g *group
		for i := range gs {
			if !used[gs[i].id] && r.matches(gs[i].final()) {
				g = &gs[i]
				break
			}
		}
		if g == nil {
			problems = append(problems, fmt.Sprintf("%s: not in the stream", r.what))
			continue
		}
		used[g.id] = true
		ids[r.what] = g.id
		var stages, want []string
		for _, e := range g.events {
			stages = append(stages, string(e.Stage))
		}
		for _, s := range sink.stages {
			want = append(want, string(s))
		}
		if strings.Join(stages, ",") != strings.Join(want, ",") {
			problems = append(problems, fmt.Sprintf("%s: stages %v, want %v", r.what, stages, want))
		}
		for _, e := range g.events {
			if e.Level != sink.level {
				problems = append(problems, fmt.Sprintf("%s %s: level %s, want %s", r.what, e.Stage, e.Level, sink.level))
			}
			if e.User.Username != adminUser || !strings.HasPrefix(e.UserAgent, kubectlPrefix) {
				problems = append(problems, fmt.Sprintf("%s %s: user %s agent %q", r.what, e.Stage, e.User.Username, e.UserAgent))
			}
			hasReq, hasResp := e.RequestObject != nil, e.ResponseObject != nil
			switch {
			case sink.level == auditv1.LevelMetadata && (hasReq || hasResp):
				problems = append(problems, fmt.Sprintf("%s %s: requestObject %t responseObject %t at level Metadata, want neither", r.what, e.Stage, hasReq, hasResp))
			case e.Stage == auditv1.StageResponseComplete:
				if code(e.Event) != r.code {
					problems = append(problems, fmt.Sprintf("%s: code %d, want %d", r.what, code(e.Event), r.code))
				}
				if sink.level == auditv1.LevelRequestResponse {
					if r.reqObj && !hasReq {
						problems = append(problems, fmt.Sprintf("%s ResponseComplete: no requestObject at level RequestResponse", r.what))
					}
					if r.respObj && !hasResp {
						problems = append(problems, fmt.Sprintf("%s ResponseComplete: no responseObject at level RequestResponse", r.what))
					}
				}
			case e.Stage == auditv1.StageRequestReceived && hasResp:
				problems = append(problems, fmt.Sprintf("%s RequestReceived: has a responseObject before there was a response", r.what))
			}
		}
	}
	for _, g := range gs {
		if !used[g.id] {
			problems = append(problems, "unexpected request: "+describe(g.final()))
		}
	}
	return ids, problems
}

// TestUserFlow: the flow a user sees, end to end.
func TestUserFlow(t *testing.T) {
	clock := newStepClock(t)
	lab := newCLILab(t)
	port := freePort(t)
	recv, url := lab.serve(t, "serve.log", port)
	clock.step("audit-lab serve (until it prints its URL)")
	if want := fmt.Sprintf("https://127.0.0.1:%d", port); url != want {
		t.Fatalf("serve --port %d printed %s, want %s", port, url, want)
	}
	if st := lab.state(t); st.Mode != "static" || st.Receiver.Port != port {
		t.Fatalf("lab state after serve: mode %q port %d, want static %d", st.Mode, st.Receiver.Port, port)
	}

	sinks := []sinkWant{
		{"default", auditv1.LevelMetadata, []auditv1.Stage{auditv1.StageResponseComplete}},
		{"meta", auditv1.LevelMetadata, []auditv1.Stage{auditv1.StageResponseComplete}},
		{"full", auditv1.LevelRequestResponse, []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseComplete}},
	}
	lab.sinkCreate(t, "meta", "Metadata", "ResponseComplete")
	lab.sinkCreate(t, "full", "RequestResponse", "RequestReceived", "ResponseComplete")
	clock.step("sink create meta, full")

	out := filepath.Join(lab.tmp, "rendered")
	rc := lab.render(t, out)
	checkCapture(t, filepath.Join(mountedDir(out), "policy.yaml"), "RequestResponse", []string{"RequestReceived", "ResponseComplete"})
	wait := batchMaxWait(t, rc)
	clock.step("render --receiver-host 127.0.0.1")

	a := newAPIServer(t, "flow")
	p := a.startLogged(t, "kube-apiserver.log", auditFlags(t, rc, ""))
	a.waitReady(t, p, 3*time.Minute)
	clock.step("kube-apiserver start until /readyz")

	ns := "flow-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	cm := "flow-cm"
	reqs := []request{
		{what: "create namespace", verb: "create", resource: "namespaces", name: ns, code: 201, reqObj: true, respObj: true},
		{what: "create configmap", verb: "create", resource: "configmaps", ns: ns, name: cm, code: 201, reqObj: true, respObj: true},
		{what: "get configmap", verb: "get", resource: "configmaps", ns: ns, name: cm, code: 200, respObj: true},
		// kubectl patch reads the object before it patches it.
		{what: "get configmap (by kubectl patch)", verb: "get", resource: "configmaps", ns: ns, name: cm, code: 200, respObj: true},
		{what: "patch configmap", verb: "patch", resource: "configmaps", ns: ns, name: cm, code: 200, reqObj: true, respObj: true},
		{what: "get configmap --as " + deniedUser, verb: "get", resource: "configmaps", ns: ns, name: cm, code: 403, as: deniedUser},
		{what: "list configmaps (get -w)", verb: "list", resource: "configmaps", ns: ns, code: 200, respObj: true},
		{what: "watch configmaps (get -w)", verb: "watch", resource: "configmaps", ns: ns, code: 200},
		{what: "delete configmap", verb: "delete", resource: "configmaps", ns: ns, name: cm, code: 200, respObj: true},
	}
	kubectl(t, a.kubeconfig, "create", "namespace", ns)
	kubectl(t, a.kubeconfig, "create", "configmap", cm, "-n", ns, "--from-literal=k=v")
	kubectl(t, a.kubeconfig, "get", "configmap", cm, "-n", ns, "-o", "name")
	kubectl(t, a.kubeconfig, "patch", "configmap", cm, "-n", ns, "--type=merge", "-p", `{"data":{"k":"v2"}}`)
	denied, err := kubectlRun(t, a.kubeconfig, "get", "configmap", cm, "-n", ns, "--as", deniedUser)
	if err == nil || !strings.Contains(denied, "(Forbidden)") || !strings.Contains(denied, `User "`+deniedUser+`" cannot get resource "configmaps"`) {
		t.Fatalf("kubectl get --as %s: want Forbidden, got %v:\n%s", deniedUser, err, denied)
	}
	watched, err := kubectlRun(t, a.kubeconfig, "get", "configmaps", "-n", ns, "-w", "--request-timeout=2s")
	if !strings.Contains(watched, cm) {
		t.Fatalf("kubectl get configmaps -w: want %s listed, got %v:\n%s", cm, err, watched)
	}
	t.Logf("kubectl get -w --request-timeout=2s ended with %v", err)
	kubectl(t, a.kubeconfig, "delete", "configmap", cm, "-n", ns, "--wait=false")
	lastRequest := time.Now()
	clock.step(fmt.Sprintf("kubectl: 7 commands, %d requests", len(reqs)))

	// Poll tail until every request is in every sink; the batch wait is
	// 1s, so a few seconds are plenty, but only logged, not asserted.
	deadline := time.Now().Add(5*wait + 10*time.Second)
	var problems []string
	for {
		problems = nil
		for _, s := range sinks {
			evs, _ := lab.tailSink(t, s.name)
			kept, _, _ := ours(evs)
			_, pr := checkSink(s, kept, reqs)
			for _, x := range pr {
				problems = append(problems, s.name+": "+x)
			}
		}
		if len(problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, s := range sinks {
				evs, _ := lab.tailSink(t, s.name)
				kept, _, _ := ours(evs)
				for _, e := range kept {
					t.Logf("%s: %s", s.name, describe(e.Event))
				}
			}
			t.Fatalf("after %s, the sinks do not hold exactly the requests made (batch max wait %s):\n  %s\nreceiver log:\n%s\nkube-apiserver log:\n%s",
				time.Since(lastRequest).Round(time.Millisecond), wait, strings.Join(problems, "\n  "), tail(recv.output(), 20), tail(p.output(), 30))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("every request in every sink %s after the last kubectl returned (audit-webhook-batch-max-wait %s)",
		time.Since(lastRequest).Round(10*time.Millisecond), wait)
	clock.step("tail until every sink has every request")

	// A further batch period for anything late (a duplicate, an extra stage).
	time.Sleep(wait + time.Second)
	idsBySink := map[string]map[string]string{}
	for _, s := range sinks {
		evs, raw := lab.tailSink(t, s.name)
		kept, discovery, other := ours(evs)
		t.Logf("sink %s (%s at %v): %d lines; %d of our resource requests, %d kubectl discovery, %d other (apiserver's own)",
			s.name, s.level, s.stages, len(evs), len(kept), discovery, other)
		for _, e := range kept {
			t.Logf("  %s", describe(e.Event))
		}
		ids, problems := checkSink(s, kept, reqs)
		for _, pr := range problems {
			t.Errorf("sink %s: %s", s.name, pr)
		}
		if d := duplicates(evs); len(d) > 0 {
			t.Errorf("sink %s stores events twice: %v", s.name, d)
		}
		idsBySink[s.name] = ids
		// tail prints the stored lines byte for byte. The stream keeps
		// growing (the apiserver's own requests), so the file, read after
		// tail, must start with exactly what tail printed.
		stored, err := os.ReadFile(filepath.Join(lab.dir, "streams", s.name+".log"))
		if err != nil {
			t.Errorf("sink %s stream file: %v", s.name, err)
		} else if !bytes.HasPrefix(stored, []byte(raw)) || !strings.HasSuffix(raw, "\n") {
			n := 0
			for n < len(raw) && n < len(stored) && raw[n] == stored[n] {
				n++
			}
			t.Errorf("sink %s: tail --no-follow -o jsonl (%d bytes) is not the start of streams/%s.log (%d bytes read after it); first difference at byte %d",
				s.name, len(raw), s.name, len(stored), n)
		}
	}
	for _, r := range reqs {
		if a, b, c := idsBySink["default"][r.what], idsBySink["meta"][r.what], idsBySink["full"][r.what]; a != b || b != c {
			t.Errorf("%s has auditID %q in default, %q in meta, %q in full; want the same request in every sink", r.what, a, b, c)
		}
	}
	clock.step("check sinks")
	clock.total()
}

// checkCapture reads a rendered policy and checks it captures at least
// level at stages (one rule, omitStages the rest, as render writes it).
func checkCapture(t *testing.T, path, level string, stages []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		OmitStages []string `json:"omitStages"`
		Rules      []struct {
			Level string `json:"level"`
		} `json:"rules"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(p.Rules) == 0 || p.Rules[0].Level != level {
		t.Errorf("%s captures %+v, want level %s for the sinks:\n%s", path, p.Rules, level, b)
	}
	for _, s := range stages {
		for _, o := range p.OmitStages {
			if o == s {
				t.Errorf("%s omits stage %s, which a sink needs:\n%s", path, s, b)
			}
		}
	}
}

// ---------------------------------------------------------------- faults: receiver restart

type sentRequest struct {
	name    string
	auditID string
	code    int
	err     error
	at      time.Duration
}

// TestFaultsReceiverRestart: a steady stream of requests,
// the receiver stopped with SIGTERM for ~5 s in the middle and started
// again on the same port; counts sent, delivered and lost.
func TestFaultsReceiverRestart(t *testing.T) {
	const (
		rate     = 20 // requests per second
		duration = 15 * time.Second
		stopAt   = 5 * time.Second
		downFor  = 5 * time.Second
	)
	clock := newStepClock(t)
	lab := newCLILab(t)
	port := freePort(t)
	recv, url := lab.serve(t, "serve-1.log", port)
	out := filepath.Join(lab.tmp, "rendered")
	rc := lab.render(t, out)
	clock.step("serve + render (default sink only)")

	a := newAPIServer(t, "faults")
	p := a.startLogged(t, "kube-apiserver.log", auditFlags(t, rc, ""))
	a.waitReady(t, p, 3*time.Minute)
	clock.step("kube-apiserver start until /readyz")

	ns := "faults-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	kubectl(t, a.kubeconfig, "create", "namespace", ns)

	cfg, err := clientcmd.BuildConfigFromFlags("", a.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.UserAgent = faultsAgent
	cfg.QPS, cfg.Burst = 1000, 1000 // our own pacing, not client-go's
	var idMu sync.Mutex
	var lastID string
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if resp != nil {
				idMu.Lock()
				lastID = resp.Header.Get("Audit-Id")
				idMu.Unlock()
			}
			return resp, err
		})
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// The receiver is stopped with SIGTERM and started again by this
	// goroutine while the loop below keeps sending at its pace.
	type outage struct {
		stoppedAt, restartedAt time.Duration
		stopTook               time.Duration
		url                    string
		p                      *process
		err                    error
	}
	start := time.Now()
	outageDone := make(chan outage, 1)
	go func() {
		var o outage
		time.Sleep(stopAt)
		o.stoppedAt = time.Since(start)
		_ = recv.cmd.Process.Signal(syscall.SIGTERM)
		t0 := time.Now()
		select {
		case <-recv.exited:
		case <-time.After(20 * time.Second):
			o.err = fmt.Errorf("audit-lab serve still running 20s after SIGTERM:\n%s", tail(recv.output(), 20))
			outageDone <- o
			return
		}
		o.stopTook = time.Since(t0)
		time.Sleep(downFor - o.stopTook)
		// Same port: serve without --port takes the one saved in the lab state.
		o.p, o.url, o.err = lab.startServe(t, "serve-2.log", -1)
		o.restartedAt = time.Since(start)
		outageDone <- o
	}()

	var sent []sentRequest
	tick := time.NewTicker(time.Second / rate)
	for i := 0; time.Since(start) < duration; i++ {
		<-tick.C
		name := fmt.Sprintf("fault-%04d", i)
		_, err := client.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Data:       map[string]string{"i": strconv.Itoa(i)},
		}, metav1.CreateOptions{})
		idMu.Lock()
		id := lastID
		lastID = ""
		idMu.Unlock()
		sent = append(sent, sentRequest{name: name, auditID: id, err: err, at: time.Since(start)})
	}
	tick.Stop()
	sendEnd := time.Since(start)
	var o outage
	select {
	case o = <-outageDone:
	case <-time.After(60 * time.Second):
		t.Fatal("the receiver outage never ended")
	}
	if o.err != nil {
		t.Fatalf("restarting the receiver: %v", o.err)
	}
	clock.step(fmt.Sprintf("send %d creates at %d/s, receiver down in the middle", len(sent), rate))
	if recv.err != nil {
		t.Errorf("CLI: audit-lab serve exited with %v after SIGTERM, want a clean exit 0:\n%s", recv.err, tail(recv.output(), 20))
	}
	t.Logf("receiver (first run) after SIGTERM:\n%s", tail(recv.output(), 3))
	if o.url != url {
		t.Errorf("CLI: the restarted receiver listens on %s, the first on %s; want the saved port", o.url, url)
	}
	t.Logf("receiver: SIGTERM at %s (exited in %s), serve started again at %s on %s; sending ended at %s",
		o.stoppedAt.Round(time.Millisecond), o.stopTook.Round(time.Millisecond), o.restartedAt.Round(time.Millisecond), o.url, sendEnd.Round(time.Millisecond))

	failed := 0
	wantIDs := map[string]sentRequest{}
	during := 0
	for _, s := range sent {
		if s.err != nil {
			failed++
			t.Errorf("create %s failed: %v", s.name, s.err)
			continue
		}
		if s.auditID == "" {
			t.Errorf("create %s: no Audit-Id response header", s.name)
			continue
		}
		wantIDs[s.auditID] = s
		if s.at >= o.stoppedAt && s.at < o.restartedAt {
			during++
		}
	}

	// Wait for the apiserver's retries (10 s, then x1.5, 5 tries) to deliver.
	deliveredIDs := map[string]bool{}
	var evs []storedEvent
	deadline := time.Now().Add(100 * time.Second)
	waitStart := time.Now()
	lastCount := -1
	for {
		evs, _ = lab.tailSink(t, "default")
		deliveredIDs = map[string]bool{}
		for _, e := range evs {
			if e.UserAgent == faultsAgent && e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Resource == "configmaps" {
				deliveredIDs[string(e.AuditID)] = true
			}
		}
		n := 0
		for id := range wantIDs {
			if deliveredIDs[id] {
				n++
			}
		}
		if n != lastCount {
			t.Logf("faults: %5.1fs after the start: %d of %d delivered", time.Since(start).Seconds(), n, len(wantIDs))
			lastCount = n
		}
		if n == len(wantIDs) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	clock.step("wait for delivery (the apiserver's retries)")

	delivered, lost, deliveredAfter, lostDuring := 0, 0, 0, 0
	var lostNames []string
	for id, s := range wantIDs {
		if deliveredIDs[id] {
			delivered++
			if s.at >= o.restartedAt {
				deliveredAfter++
			}
		} else {
			lost++
			lostNames = append(lostNames, s.name)
			if s.at >= o.stoppedAt && s.at < o.restartedAt {
				lostDuring++
			}
		}
	}
	sort.Strings(lostNames)
	unknown := 0
	for id := range deliveredIDs {
		if _, ok := wantIDs[id]; !ok {
			unknown++
		}
	}
	// What the apiserver itself says it dropped: the "Error in audit
	// plugin" log lines (a batch given up after its retries) and the
	// apiserver_audit_error_total counter.
	gaveUp := strings.Count(p.output(), "Error in audit plugin 'webhook'")
	auditErrors := metricSum(t, a, "apiserver_audit_error_total")
	for _, l := range strings.Split(p.output(), "\n") {
		if strings.Contains(l, "audit") && (strings.Contains(l, "rror") || strings.Contains(l, "drop")) {
			t.Logf("kube-apiserver: %s", strings.TrimSpace(l))
		}
	}
	t.Logf("faults: %d requests sent (%d while the receiver was down), %d failed to send", len(sent), during, failed)
	t.Logf("faults: %d delivered (%d of them sent after the restart), %d lost (%d of them sent while it was down): %v", delivered, deliveredAfter, lost, lostDuring, lostNames)
	t.Logf("faults: kube-apiserver: %d 'Error in audit plugin' lines, apiserver_audit_error_total %s", gaveUp, auditErrors)
	fmt.Printf("faults: sent %d, delivered %d, lost %d (receiver down %s of %s, %d sent meanwhile; all delivered %s after the last request; apiserver_audit_error_total %s)\n",
		len(sent)-failed, delivered, lost, (o.restartedAt - o.stoppedAt).Round(100*time.Millisecond), duration, during,
		time.Since(waitStart).Round(100*time.Millisecond), auditErrors)

	if deliveredAfter == 0 {
		t.Errorf("no request sent after the receiver restart was delivered")
	}
	if unknown > 0 {
		t.Errorf("%d delivered create events of ours have an auditID no response carried", unknown)
	}
	if d := duplicates(evs); len(d) > 0 {
		t.Errorf("the default sink stores %d events twice: %v", len(d), d)
	}
	t.Logf("receiver (second run) log:\n%s", tail(o.p.output(), 10))
	clock.step("count")
	// kube-apiserver first: its shutdown flushes the audit buffer, and with
	// the receiver gone that waits out the webhook retries (seen: killed by
	// process.stop after 15 s).
	p.stop()
	clock.step("stop kube-apiserver (SIGTERM)")
	took := sigterm(t, o.p)
	clock.step(fmt.Sprintf("SIGTERM the restarted receiver (exited in %s)", took.Round(time.Millisecond)))
	clock.total()
}

// metricSum adds up the samples of one counter on the apiserver's /metrics
// ("none" when it has no sample, which for an error counter means zero).
func metricSum(t *testing.T, a *apiserver, name string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: a.adminTLS}}
	resp, err := client.Get(a.url() + "/metrics")
	if err != nil {
		t.Errorf("/metrics: %v", err)
		return "unknown"
	}
	defer resp.Body.Close()
	var sum float64
	var samples []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			samples = append(samples, line)
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err == nil {
				sum += v
			}
		}
	}
	if len(samples) == 0 {
		return "0 (no sample)"
	}
	return fmt.Sprintf("%g (%s)", sum, strings.Join(samples, "; "))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ---------------------------------------------------------------- faults: policy change

// TestFaultsPolicyChange: in a lab with the narrow capture
// (`--capture sinks`; a new lab captures everything), a sink wider than the
// capture is created; sink create rewrites the policy (no cluster: files
// only), the test re-renders and restarts kube-apiserver with it, as sink
// create would restart the node's, and the new capture is in force.
func TestFaultsPolicyChange(t *testing.T) {
	clock := newStepClock(t)
	lab := newCLILab(t)
	recv, _ := lab.serve(t, "serve.log", freePort(t), "--capture", "sinks")
	out := filepath.Join(lab.tmp, "rendered")
	rc := lab.render(t, out)
	checkCapture(t, filepath.Join(mountedDir(out), "policy.yaml"), "Metadata", []string{"ResponseComplete"})
	clock.step("serve + render (default sink only)")

	a := newAPIServer(t, "policy-change")
	p := a.startLogged(t, "kube-apiserver-1.log", auditFlags(t, rc, ""))
	a.waitReady(t, p, 3*time.Minute)
	clock.step("kube-apiserver start until /readyz")

	ns := "policy-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	kubectl(t, a.kubeconfig, "create", "namespace", ns)

	// A sink the Metadata capture does not cover.
	r := lab.sinkCreate(t, "wide", "RequestResponse", "ResponseComplete")
	// No kind cluster here: the change is saved and applies at the next `up`.
	if want := "has no cluster running: it applies at the next `audit-lab up`"; r.code != 0 || !strings.Contains(r.stdout+r.stderr, want) {
		t.Errorf("CLI: sink create of a sink the capture does not cover, with no cluster, should exit 0 and say %q:\n%s", want, r)
	}
	labPolicy := filepath.Join(lab.dir, "apiserver", "policy.yaml")
	if _, err := os.Stat(labPolicy); err != nil {
		t.Errorf("CLI: sink create did not rewrite %s: %v", labPolicy, err)
	} else {
		checkCapture(t, labPolicy, "RequestResponse", []string{"ResponseComplete"})
	}
	clock.step("sink create wide (RequestResponse)")

	// Before the restart the apiserver still captures Metadata only: the
	// new sink gets the request, without objects. Its event is waited for
	// before the restart: one still in the apiserver's buffer when SIGTERM
	// comes may be lost with the old apiserver ("audit backend shut down",
	// seen once under load), which is the apiserver's doing, not the lab's.
	kubectl(t, a.kubeconfig, "create", "configmap", "before-restart", "-n", ns, "--from-literal=k=v")
	for waitBefore := time.Now().Add(20 * time.Second); ; {
		if evs, _ := lab.tailSink(t, "wide"); findCreated(evs, "before-restart") != nil {
			break
		}
		if time.Now().After(waitBefore) {
			t.Fatalf("after 20s, the wide sink has no event of the request made before the restart\nreceiver log:\n%s\nkube-apiserver log:\n%s", tail(recv.output(), 40), tail(p.output(), 15))
		}
		time.Sleep(250 * time.Millisecond)
	}
	clock.step("the request before the restart in the new sink")

	rc2 := lab.render(t, out)
	rendered, _ := os.ReadFile(filepath.Join(mountedDir(out), "policy.yaml"))
	if written, err := os.ReadFile(labPolicy); err == nil && !bytes.Equal(written, rendered) {
		t.Errorf("render's policy.yaml differs from the one sink create wrote to %s:\nrender:\n%s\nsink create:\n%s", labPolicy, rendered, written)
	}
	checkCapture(t, filepath.Join(mountedDir(out), "policy.yaml"), "RequestResponse", []string{"ResponseComplete"})
	clock.step("re-render")

	p.stop()
	if p.err != nil && !strings.Contains(p.err.Error(), "signal") {
		t.Logf("kube-apiserver exited with %v", p.err)
	}
	clock.step("stop kube-apiserver (SIGTERM)")
	p2 := a.startLogged(t, "kube-apiserver-2.log", auditFlags(t, rc2, ""))
	a.waitReady(t, p2, 3*time.Minute)
	clock.step("kube-apiserver restart until /readyz")

	kubectl(t, a.kubeconfig, "create", "configmap", "after-restart", "-n", ns, "--from-literal=k=v")
	lastRequest := time.Now()

	find := findCreated
	var wide, def []storedEvent
	deadline := time.Now().Add(20 * time.Second)
	for {
		wide, _ = lab.tailSink(t, "wide")
		def, _ = lab.tailSink(t, "default")
		if find(wide, "after-restart") != nil && find(def, "after-restart") != nil && find(wide, "before-restart") != nil {
			break
		}
		if time.Now().After(deadline) {
			for _, e := range wide {
				if e.User.Username == adminUser && e.ObjectRef != nil {
					t.Logf("wide: %s", describe(e.Event))
				}
			}
			t.Fatalf("after 20s, wide has before-restart %t, after-restart %t; default has after-restart %t\nreceiver log:\n%s\nfirst kube-apiserver, end of its log:\n%s\nsecond kube-apiserver log:\n%s",
				find(wide, "before-restart") != nil, find(wide, "after-restart") != nil, find(def, "after-restart") != nil,
				tail(recv.output(), 40), tail(p.output(), 15), tail(p2.output(), 30))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("after-restart request in the wide sink %s after kubectl returned", time.Since(lastRequest).Round(10*time.Millisecond))
	clock.step("tail until the new sink has the request")

	before, after, afterDefault := find(wide, "before-restart"), find(wide, "after-restart"), find(def, "after-restart")
	for _, e := range []*storedEvent{before, after, afterDefault} {
		t.Logf("%s", describe(e.Event))
	}
	if before.Level != auditv1.LevelMetadata || before.RequestObject != nil {
		t.Errorf("before the restart the capture was Metadata; wide has level %s requestObject %t", before.Level, before.RequestObject != nil)
	}
	if after.Level != auditv1.LevelRequestResponse || after.RequestObject == nil || after.ResponseObject == nil {
		t.Errorf("after the restart, wide (RequestResponse) has level %s requestObject %t responseObject %t; want RequestResponse with both",
			after.Level, after.RequestObject != nil, after.ResponseObject != nil)
	} else if !bytes.Contains(after.RequestObject.Raw, []byte(`"after-restart"`)) {
		t.Errorf("wide's requestObject is not the ConfigMap sent: %s", after.RequestObject.Raw)
	}
	if afterDefault.Level != auditv1.LevelMetadata || afterDefault.RequestObject != nil || afterDefault.ResponseObject != nil {
		t.Errorf("default (Metadata) after the wider capture: level %s requestObject %t responseObject %t; want Metadata with neither (the receiver strips)",
			afterDefault.Level, afterDefault.RequestObject != nil, afterDefault.ResponseObject != nil)
	}
	for _, s := range []string{"wide", "default"} {
		evs, _ := lab.tailSink(t, s)
		if d := duplicates(evs); len(d) > 0 {
			t.Errorf("sink %s stores events twice: %v", s, d)
		}
	}
	clock.total()
}

// findCreated is the admin's create of ConfigMap `name` at ResponseComplete, or nil.
func findCreated(evs []storedEvent, name string) *storedEvent {
	for i := range evs {
		e := evs[i]
		if e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Resource == "configmaps" && e.ObjectRef.Name == name &&
			e.User.Username == adminUser && e.Stage == auditv1.StageResponseComplete {
			return &evs[i]
		}
	}
	return nil
}
