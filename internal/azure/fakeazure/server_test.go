package fakeazure

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// armClient is a plain client with a token from the fake's token service.
func armToken(t *testing.T, c *http.Client) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {ClientID}, "client_secret": {ClientSecret},
		"scope": {"https://management.core.windows.net//.default"}}
	resp, err := c.PostForm("https://login.fakeazure.test/"+TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v %v", resp.Status, err)
	}
	return tok.AccessToken
}

func put(t *testing.T, c *http.Client, tok, u, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestInvalidBodyIs400AndAProblem(t *testing.T) {
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.Client()
	tok := armToken(t, c)
	resp, body := put(t, c, tok, armURL(workspacePath+"/jobs/j1"), `{"properties": {"experimentName": "x"}}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "properties.jobType: missing required property") {
		t.Fatalf("%s %s", resp.Status, body)
	}
	if p := s.Problems(); len(p) != 1 || !strings.Contains(p[0], "PUT jobs/j1: body does not match JobBase") {
		t.Fatalf("problems = %q", p)
	}
}

func TestARMRefusesBadTokenAndAPIVersion(t *testing.T) {
	s := Start(t)
	c := s.Client()
	resp, body := put(t, c, "forged", armURL(workspacePath+"/data/d"), `{}`)
	if resp.StatusCode != 401 || !strings.Contains(body, "InvalidAuthenticationToken") {
		t.Errorf("forged token: %s %s", resp.Status, body)
	}
	tok := armToken(t, c)
	resp, body = put(t, c, tok, "https://management.azure.com"+workspacePath+"/data/d?api-version=2019-01-01", `{}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "InvalidApiVersionParameter") {
		t.Errorf("old api-version: %s %s", resp.Status, body)
	}
}

// TestEnvReachesTheFakeThroughTheProxy does what a child process given Env does: trust
// SSL_CERT_FILE and go through HTTPS_PROXY, asking for Azure's real host names.
func TestEnvReachesTheFakeThroughTheProxy(t *testing.T) {
	s := Start(t)
	env := map[string]string{}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	pem, err := os.ReadFile(env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("SSL_CERT_FILE holds no certificate")
	}
	proxy, err := url.Parse(env["HTTPS_PROXY"])
	if err != nil || !strings.HasPrefix(proxy.Host, "127.0.0.1:") {
		t.Fatalf("HTTPS_PROXY = %q", env["HTTPS_PROXY"])
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	tok := armToken(t, c)
	req, _ := http.NewRequestWithContext(context.Background(), "GET", armURL(workspacePath), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"location":"`+Location+`"`)) {
		t.Fatalf("%s %s", resp.Status, b)
	}
	if env["AZURE_AUTHORITY_HOST"] != AuthorityHost || env["AZURE_TENANT_ID"] != TenantID {
		t.Errorf("env = %v", env)
	}
}
