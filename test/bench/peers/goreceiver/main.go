// A peer for the receiver benchmark: what a short Go receiver written with the standard library
// alone does with the same batches. HTTPS with mutual TLS on loopback; each EventList's items are
// split out as raw JSON (or, with -decode, each also decoded into a map) and appended, one a line,
// to one file; -sync adds an fdatasync of that file before each answer (each request its own, no
// group commit). It answers 200 once its lines are written. Not part of audit-lab.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"syscall"
)

const maxBody = 64 << 20

type peer struct {
	mu     sync.Mutex
	out    *os.File
	sync   bool
	decode bool
}

func (p *peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var lines bytes.Buffer
	lines.Grow(len(body) + len(list.Items))
	for _, item := range list.Items {
		if p.decode {
			var event map[string]any
			if err := json.Unmarshal(item, &event); err != nil || event == nil {
				http.Error(w, "an item is not an object", http.StatusBadRequest)
				return
			}
		}
		if bytes.IndexByte(item, '\n') >= 0 {
			if err := json.Compact(&lines, item); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		} else {
			lines.Write(item)
		}
		lines.WriteByte('\n')
	}
	p.mu.Lock()
	_, err = p.out.Write(lines.Bytes())
	p.mu.Unlock()
	if err == nil && p.sync {
		err = syscall.Fdatasync(int(p.out.Fd()))
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (loopback)")
	caFile := flag.String("ca", "", "CA certificate (PEM) client certificates must chain to")
	certFile := flag.String("cert", "", "server certificate (PEM)")
	keyFile := flag.String("key", "", "server key (PEM)")
	outFile := flag.String("out", "", "file the events are appended to, one a line")
	doSync := flag.Bool("sync", false, "fdatasync the file before each answer")
	decode := flag.Bool("decode", false, "decode each event into a map[string]any")
	flag.Parse()
	if *caFile == "" || *certFile == "" || *keyFile == "" || *outFile == "" {
		log.Fatal("-ca, -cert, -key and -out are required")
	}

	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		log.Fatalf("%s: no certificate", *caFile)
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	out, err := os.OpenFile(*outFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatal(err)
	}

	srv := &http.Server{
		Addr:    *addr,
		Handler: &peer{out: out, sync: *doSync, decode: *decode},
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
	}
	fmt.Fprintf(os.Stderr, "listening on %s (sync=%v decode=%v)\n", *addr, *doSync, *decode)
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
