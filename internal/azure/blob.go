package azure

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BlobAPIVersion is the Azure Storage REST version blob uploads are signed for.
const BlobAPIVersion = "2021-08-06"

// Datastore is the part of an Azure Blob datastore an upload needs.
type Datastore struct {
	Name          string // the datastore's name in the workspace, for azureml:// URIs
	AccountName   string
	ContainerName string
	Endpoint      string // storage suffix, e.g. core.windows.net
	Protocol      string // https
}

// BlobURL is the Storage URL of path inside the datastore's container.
func (d Datastore) BlobURL(path string) string {
	proto := d.Protocol
	if proto == "" {
		proto = "https"
	}
	endpoint := d.Endpoint
	if endpoint == "" {
		endpoint = "core.windows.net"
	}
	return proto + "://" + d.AccountName + ".blob." + endpoint + "/" + d.ContainerName + "/" + escapePath(path)
}

// URI is the azureml:// URI a data version's dataUri takes for dir in the datastore.
func (d Datastore) URI(dir string) string {
	return "azureml://datastores/" + d.Name + "/paths/" + strings.Trim(dir, "/")
}

// DatastoreSecrets is the answer of POST datastores/{name}/listSecrets: an account key
// (SharedKey signing) or a SAS token.
type DatastoreSecrets struct {
	SecretsType string `json:"secretsType"` // AccountKey or Sas
	Key         string `json:"key,omitempty"`
	SASToken    string `json:"sasToken,omitempty"`
}

// DefaultDatastoreRequest lists the workspace's default datastore.
func DefaultDatastoreRequest(step string, ws Workspace) Request {
	return Request{Step: step, Method: http.MethodGet, URL: ws.URL("datastores?isDefault=true")}
}

// DefaultDatastore reads the workspace's default datastore (GET datastores?isDefault=true).
func DefaultDatastore(ctx context.Context, d Doer, step string, ws Workspace) (Datastore, error) {
	r := DefaultDatastoreRequest(step, ws)
	var list struct {
		Value []struct {
			Name       string `json:"name"`
			Properties struct {
				DatastoreType string `json:"datastoreType"`
				AccountName   string `json:"accountName"`
				ContainerName string `json:"containerName"`
				Endpoint      string `json:"endpoint"`
				Protocol      string `json:"protocol"`
			} `json:"properties"`
		} `json:"value"`
	}
	if err := d.Do(ctx, r, &list); err != nil {
		return Datastore{}, err
	}
	if len(list.Value) == 0 {
		return Datastore{}, fmt.Errorf("%s: workspace %s has no default datastore (GET %s)", step, ws.Name, stripQuery(r.URL))
	}
	v := list.Value[0]
	if !strings.EqualFold(v.Properties.DatastoreType, "AzureBlob") || v.Properties.AccountName == "" || v.Properties.ContainerName == "" {
		return Datastore{}, fmt.Errorf("%s: the default datastore %q of workspace %s is %q, not an Azure Blob container", step, v.Name, ws.Name, v.Properties.DatastoreType)
	}
	return Datastore{Name: v.Name, AccountName: v.Properties.AccountName, ContainerName: v.Properties.ContainerName,
		Endpoint: v.Properties.Endpoint, Protocol: v.Properties.Protocol}, nil
}

// ListSecretsRequest asks for a datastore's credentials.
func ListSecretsRequest(step string, ws Workspace, datastore string) Request {
	return Request{Step: step, Method: http.MethodPost, URL: ws.URL("datastores/" + url.PathEscape(datastore) + "/listSecrets")}
}

// ListSecrets reads a datastore's account key or SAS token.
func ListSecrets(ctx context.Context, d Doer, step string, ws Workspace, datastore string) (DatastoreSecrets, error) {
	var s DatastoreSecrets
	r := ListSecretsRequest(step, ws, datastore)
	if err := d.Do(ctx, r, &s); err != nil {
		return s, err
	}
	switch {
	case strings.EqualFold(s.SecretsType, "AccountKey") && s.Key != "":
	case strings.EqualFold(s.SecretsType, "Sas") && s.SASToken != "":
	default:
		return s, fmt.Errorf("%s: datastore %q gave secrets of type %q without a key or SAS token: cannot upload to it", step, datastore, s.SecretsType)
	}
	return s, nil
}

// BlobRequest is the Storage PUT (a block blob) of body at path in the datastore. With
// secrets, it is ready to send (see SignBlob); without, it is the unsigned request
// --dry-run prints.
//
// Client.Do sends it without the ARM token (its host is not Resource Manager's).
func BlobRequest(step string, ds Datastore, secrets *DatastoreSecrets, path string, body []byte, now time.Time) (Request, error) {
	r := Request{
		Step: step, Method: http.MethodPut, URL: ds.BlobURL(path), Body: body,
		Header: map[string]string{
			"x-ms-blob-type": "BlockBlob",
			"x-ms-version":   BlobAPIVersion,
			"Content-Type":   "application/octet-stream",
		},
	}
	if secrets == nil {
		return r, nil
	}
	return SignBlob(r, ds, *secrets, now)
}

// BlobGetRequest is the Storage GET of the blob at path in the datastore, signed as
// SignBlob does when secrets is not nil.
func BlobGetRequest(step string, ds Datastore, secrets *DatastoreSecrets, path string, now time.Time) (Request, error) {
	r := Request{Step: step, Method: http.MethodGet, URL: ds.BlobURL(path), Header: map[string]string{"x-ms-version": BlobAPIVersion}}
	if secrets == nil {
		return r, nil
	}
	return SignBlob(r, ds, *secrets, now)
}

// SignBlob authorizes a Storage request of the datastore: a SAS token goes into its URL;
// an account key signs it (SharedKey over its headers, its URL and its body's length; the
// signature is valid about 15 minutes from now, retries included). r.Body, if any, must
// be a []byte.
func SignBlob(r Request, ds Datastore, secrets DatastoreSecrets, now time.Time) (Request, error) {
	if strings.EqualFold(secrets.SecretsType, "Sas") {
		sep := "?"
		if strings.Contains(r.URL, "?") {
			sep = "&"
		}
		r.URL += sep + strings.TrimPrefix(secrets.SASToken, "?")
		return r, nil
	}
	key, err := base64.StdEncoding.DecodeString(secrets.Key)
	if err != nil {
		return r, fmt.Errorf("%s: datastore %q: its account key is not base64: %v", r.Step, ds.Name, err)
	}
	body, ok := r.Body.([]byte)
	if r.Body != nil && !ok {
		return r, fmt.Errorf("%s: a signed Storage request needs a []byte body, not %T", r.Step, r.Body)
	}
	h := make(map[string]string, len(r.Header)+3)
	for k, v := range r.Header {
		h[k] = v
	}
	// Every x-ms-* header is signed, so the request id Storage logs is set here, before
	// signing, and nothing may add one later (azcore's default pipeline does not).
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	h["x-ms-client-request-id"] = hex.EncodeToString(id)
	h["x-ms-date"] = now.UTC().Format(http.TimeFormat)
	if _, ok := h["x-ms-version"]; !ok {
		h["x-ms-version"] = BlobAPIVersion
	}
	sig, err := SharedKeySignature(ds.AccountName, key, r.Method, r.URL, h, len(body))
	if err != nil {
		return r, fmt.Errorf("%s: %w", r.Step, err)
	}
	h["Authorization"] = "SharedKey " + ds.AccountName + ":" + sig
	r.Header = h
	return r, nil
}

// UploadBlob puts body at path in the datastore with the given secrets.
func UploadBlob(ctx context.Context, d Doer, step string, ds Datastore, secrets DatastoreSecrets, path string, body []byte) error {
	r, err := BlobRequest(step, ds, &secrets, path, body, time.Now())
	if err != nil {
		return err
	}
	return d.Do(ctx, r, nil)
}

// SharedKeySignature is the Storage SharedKey signature of a request (the Blob service's
// string-to-sign, version 2009-09-19 and later). header holds every header sent that the
// signature covers; contentLength is the body's size.
func SharedKeySignature(account string, key []byte, method, rawURL string, header map[string]string, contentLength int) (string, error) {
	str, err := stringToSign(account, method, rawURL, header, contentLength)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(str))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// stringToSign is Storage's SharedKey string-to-sign: the verb, twelve standard headers
// (Content-Length empty when zero), the x-ms-* headers sorted, then /ACCOUNT/PATH and the
// query parameters sorted, one "name:value" a line.
func stringToSign(account, method, rawURL string, header map[string]string, contentLength int) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("signing %s: %v", rawURL, err)
	}
	get := func(name string) string {
		for k, v := range header {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
	length := ""
	if contentLength > 0 {
		length = strconv.Itoa(contentLength)
	}
	var b strings.Builder
	for _, s := range []string{method, get("Content-Encoding"), get("Content-Language"), length,
		get("Content-MD5"), get("Content-Type"), get("Date"), get("If-Modified-Since"), get("If-Match"),
		get("If-None-Match"), get("If-Unmodified-Since"), get("Range")} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	var ms []string
	for k, v := range header {
		if k = strings.ToLower(k); strings.HasPrefix(k, "x-ms-") {
			ms = append(ms, k+":"+strings.TrimSpace(v))
		}
	}
	sort.Strings(ms)
	for _, h := range ms {
		b.WriteString(h)
		b.WriteByte('\n')
	}
	b.WriteString("/" + account + u.EscapedPath())
	q := u.Query()
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		b.WriteString("\n" + strings.ToLower(k) + ":" + strings.Join(vals, ","))
	}
	return b.String(), nil
}

// escapePath escapes each segment of a blob path, keeping its slashes.
func escapePath(p string) string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		// A dry run's placeholder stays readable: it is printed, never sent.
		if strings.HasPrefix(s, "${{") && strings.HasSuffix(s, "}}") {
			continue
		}
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
