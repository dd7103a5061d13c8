// Package fakeazure is a test double of the Azure services the azureml target calls: the
// Entra ID token service, Azure Resource Manager for one Azure ML workspace, Blob Storage
// and online scoring endpoints, all played by one TLS server on 127.0.0.1.
//
// Clients reach it under the real public host names (login.microsoftonline.com,
// management.azure.com, ACCOUNT.blob.core.windows.net, E.REGION.inference.ml.azure.com):
// in a test, through the *http.Client of Server.Client, whose dialer goes to the fake
// whatever the host; in a child process, through the HTTPS_PROXY and SSL_CERT_FILE that
// Server.Env gives, a CONNECT proxy that also only ever dials the fake. Either way no
// request can reach Azure, and the real azidentity and azcore code runs unchanged.
//
// Every request body is checked against the definitions of the Azure ML REST spec
// vendored in testdata/spec; a body that does not validate is answered 400 with the
// validator's message and recorded as a problem (a test failure under Start).
package fakeazure

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/azure"
)

// The fake's fixed identity: one tenant, one service principal, one workspace.
const (
	TenantID       = "72f988bf-0000-4000-8000-00000000fa4e"
	ClientID       = "11111111-0000-4000-8000-00000000c11e"
	ClientSecret   = "fake-client-secret"
	SubscriptionID = "00000000-0000-4000-8000-000000000001"
	ResourceGroup  = "rg-fake"
	WorkspaceName  = "ws-fake"
	Location       = "westeurope"
	StorageAccount = "fakestorage"
	Container      = "azureml-blobstore-fake"
	Datastore      = "workspaceblobstore"
	// AuthorityHost is the fake's own token service name, given as AZURE_AUTHORITY_HOST
	// so that azidentity's instance discovery runs too (for a host it does not know).
	AuthorityHost = "https://login.fakeazure.test/"
)

// AccountKey is the storage account key listSecrets gives (base64, as Azure's).
var AccountKey = "ZmFrZS1zdG9yYWdlLWFjY291bnQta2V5LWZvci10ZXN0cw=="

// hosts are the names the fake's certificate covers.
var hosts = []string{
	"localhost", "login.fakeazure.test", "login.microsoftonline.com", "management.azure.com",
	"*.blob.core.windows.net", "*." + Location + ".inference.ml.azure.com",
}

// Recorded is one request the fake received.
type Recorded struct {
	Method string
	Host   string
	Path   string
	URL    string // https://HOST/PATH?QUERY
	Body   []byte
	Status int // the status the fake answered
}

// Options tune a Server.
type Options struct {
	// Polls is how many polls a long-running operation stays InProgress (default 2).
	Polls int
	// SAS makes listSecrets give a SAS token instead of the account key.
	SAS bool
	// CommandOutputs are files (name -> content) that a Command job writes into each of
	// its uri_folder outputs on the default datastore when it completes: the fake runs no
	// command, so a test says what the command would have written.
	CommandOutputs map[string][]byte
}

// Server is a running fake.
type Server struct {
	opts  Options
	srv   *httptest.Server
	proxy net.Listener
	pool  *x509.CertPool
	dir   string
	t     testing.TB

	mu       sync.Mutex
	requests []Recorded
	problems []string
	failures []*Failure
	tokens   map[string]string // access token -> scope
	res      map[string]map[string]any
	ops      map[string]*operation
	jobs     map[string]*job
	resolved map[string]map[string]any // pipeline job -> its nodes as the runner resolved them
	keys     map[string][2]string      // endpoint -> primary, secondary
	logs     map[string][]string       // endpoint/deployment -> log lines
	blobs    map[string][]byte         // container/path -> content
	failJob  map[string][2]string      // job name -> code, message
	failDep  map[string][2]string      // endpoint/deployment -> code, message
	seq      int
}

// Start starts a fake for a test, stopped by t.Cleanup; request bodies that fail the
// spec and other protocol problems become test failures.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, nil)
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts *Options) *Server {
	t.Helper()
	s, err := start(opts, t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a fake outside a test (testscript's Setup, a command): call Close, and read
// Problems for the bodies that failed the spec.
func New(opts *Options) (*Server, error) { return start(opts, nil) }

func start(opts *Options, t testing.TB) (*Server, error) {
	s := &Server{
		t:      t,
		tokens: map[string]string{}, res: map[string]map[string]any{}, ops: map[string]*operation{},
		jobs: map[string]*job{}, resolved: map[string]map[string]any{}, keys: map[string][2]string{}, logs: map[string][]string{},
		blobs: map[string][]byte{}, failJob: map[string][2]string{}, failDep: map[string][2]string{},
	}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Polls == 0 {
		s.opts.Polls = 2
	}
	dir, err := os.MkdirTemp("", "fakeazure")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	cert, pemBytes, err := selfSigned()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pemBytes, 0o644); err != nil {
		return nil, err
	}
	s.pool = x509.NewCertPool()
	s.pool.AppendCertsFromPEM(pemBytes)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.Config.ReadHeaderTimeout = 10 * time.Second
	s.seedWorkspace()
	s.srv.StartTLS()
	s.proxy, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.srv.Close()
		return nil, err
	}
	go s.serveProxy()
	return s, nil
}

// Close stops the server and the proxy and removes the certificate file.
func (s *Server) Close() {
	s.proxy.Close()
	s.srv.Close()
	os.RemoveAll(s.dir)
}

// Workspace is the fake's workspace; its cloud is Azure's public one, which the fake
// plays, except for the authority host (see AuthorityHost).
func (s *Server) Workspace() azure.Workspace {
	return azure.Workspace{SubscriptionID: SubscriptionID, ResourceGroup: ResourceGroup, Name: WorkspaceName,
		Cloud: azure.Cloud{AuthorityHost: AuthorityHost, ResourceManager: "https://management.azure.com/"}}
}

// Env is what a child process needs to reach the fake with azidentity's
// EnvironmentCredential: the service principal, the authority host, the CA file, and the
// proxy that takes every https connection to the fake.
func (s *Server) Env() []string {
	proxy := "http://" + s.proxy.Addr().String()
	return []string{
		"AZURE_TENANT_ID=" + TenantID,
		"AZURE_CLIENT_ID=" + ClientID,
		"AZURE_CLIENT_SECRET=" + ClientSecret,
		"AZURE_AUTHORITY_HOST=" + AuthorityHost,
		"SSL_CERT_FILE=" + filepath.Join(s.dir, "ca.pem"),
		"HTTPS_PROXY=" + proxy, "https_proxy=" + proxy,
		"NO_PROXY=", "no_proxy=",
	}
}

// Client is an HTTP client for use in the test process: it trusts the fake's certificate
// and connects to the fake whatever host a URL names. It is a policy.Transporter, for
// azure.Options.Transport.
func (s *Server) Client() *http.Client {
	addr := s.srv.Listener.Addr().String()
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: s.pool},
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 5 * time.Second,
	}}
}

// Requests are the requests received so far, in order.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.requests...)
}

// Problems are the protocol errors the fake saw: bodies that failed the spec, requests to
// routes it does not know.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

// Blob is the content uploaded at path in the default datastore's container.
func (s *Server) Blob(path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[strings.TrimPrefix(path, "/")]
	return b, ok
}

// Resource is a copy of the stored JSON of an ARM resource by its path under the
// workspace ("jobs/j1", "onlineEndpoints/e"), or nil.
func (s *Server) Resource(sub string) map[string]any {
	s.mu.Lock()
	b, _ := json.Marshal(s.res[s.key(sub)])
	s.mu.Unlock()
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	return v
}

// ResolvedJob is a triggered pipeline job's nodes as Azure's runner would run them, by
// path ("pipeline/report"): each node's inputs with their bindings resolved and, for a
// command node, its component's command with ${{inputs.X}} replaced. nil for a job that
// is not a triggered pipeline job.
func (s *Server) ResolvedJob(name string) map[string]any {
	s.mu.Lock()
	b, _ := json.Marshal(s.resolved[strings.ToLower(name)])
	s.mu.Unlock()
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	return v
}

func (s *Server) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.problems = append(s.problems, msg)
	t := s.t
	s.mu.Unlock()
	if t != nil {
		t.Errorf("fakeazure: %s", msg)
	}
}

// selfSigned makes the certificate the fake serves and its clients trust.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fakeazure"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              hosts,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes, nil
}

// serveProxy answers CONNECT by joining the connection to the fake, whatever host was
// asked for: nothing goes further than this machine.
func (s *Server) serveProxy() {
	for {
		c, err := s.proxy.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.Method != http.MethodConnect {
				io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
				return
			}
			up, err := net.Dial("tcp", s.srv.Listener.Addr().String())
			if err != nil {
				io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
				return
			}
			defer up.Close()
			_ = c.SetReadDeadline(time.Time{})
			io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
			done := make(chan struct{}, 2)
			go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(c, up); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}
