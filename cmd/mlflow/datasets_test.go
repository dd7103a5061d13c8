package main

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
)

// httpsfiles serves $WORK over HTTPS for the rest of the script: it sets
// $HTTPS_URL to the server's base URL and SSL_CERT_FILE to its certificate,
// so the mlflow processes the script starts trust it (Go reads
// SSL_CERT_FILE on Unix).
func init() {
	scriptCmds["httpsfiles"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: httpsfiles")
		}
		srv := httptest.NewTLSServer(http.FileServer(http.Dir(ts.Getenv("WORK"))))
		ts.Defer(srv.Close)
		cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		p := filepath.Join(ts.Getenv("WORK"), "https-cert.pem")
		if err := os.WriteFile(p, cert, 0o644); err != nil {
			ts.Fatalf("httpsfiles: %v", err)
		}
		ts.Setenv("HTTPS_URL", srv.URL)
		ts.Setenv("SSL_CERT_FILE", p)
	}
}
