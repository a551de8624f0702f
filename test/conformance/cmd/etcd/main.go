// Command etcd runs a single-member etcd from the go.etcd.io/etcd/server/v3
// version that the pinned kubernetes release uses, so the API server has the
// storage it is tested against. It listens on loopback only.
//
// Usage: etcd -data-dir DIR -client-url http://127.0.0.1:PORT -peer-url http://127.0.0.1:PORT
//
// It prints "etcd ready" on stdout once it serves clients, and exits when
// its stdin closes or on SIGTERM/SIGINT, so a harness that dies cannot
// leave it behind.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dataDir := flag.String("data-dir", "", "data directory (required)")
	clientURL := flag.String("client-url", "", "client URL, must be on loopback (required)")
	peerURL := flag.String("peer-url", "", "peer URL, must be on loopback (required)")
	flag.Parse()
	if *dataDir == "" || *clientURL == "" || *peerURL == "" {
		log.Fatal("etcd: -data-dir, -client-url and -peer-url are required")
	}
	cu, err := loopbackURL(*clientURL)
	if err != nil {
		log.Fatalf("etcd: -client-url: %v", err)
	}
	pu, err := loopbackURL(*peerURL)
	if err != nil {
		log.Fatalf("etcd: -peer-url: %v", err)
	}

	cfg := embed.NewConfig()
	cfg.Dir = *dataDir
	cfg.Name = "conformance"
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// The metrics listener defaults to the client URL; keep it there so
	// nothing listens beyond the two loopback ports we were given.
	cfg.LogLevel = "warn"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("etcd: start: %v", err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("etcd ready")
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		log.Fatal("etcd: not ready after 60s")
	}

	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-e.Err():
		log.Fatalf("etcd: %v", err)
	case <-sig:
	case <-stdinClosed:
	}
}

// loopbackURL refuses anything but 127.0.0.1 / ::1 / localhost: this binary
// exists for a test harness and must never listen on a routable address.
func loopbackURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
		return u, nil
	}
	return nil, fmt.Errorf("%q is not a loopback URL", s)
}
