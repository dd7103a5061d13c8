package azure

import (
	"testing"
	"time"
)

var timeZero time.Time

// The example of Microsoft's "Authorize with Shared Key" page (Blob service, version
// 2015-02-21 and later): a GET of container metadata.
func TestStringToSignMatchesStorageDocumentation(t *testing.T) {
	got, err := stringToSign("myaccount", "GET",
		"https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=metadata&timeout=20",
		map[string]string{"x-ms-date": "Fri, 26 Jun 2015 23:39:12 GMT", "x-ms-version": "2015-02-21"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\nx-ms-version:2015-02-21\n" +
		"/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestBlobRequestWithSASCarriesNoAuthorization(t *testing.T) {
	ds := Datastore{Name: "d", AccountName: "acct", ContainerName: "c", Endpoint: "core.windows.net", Protocol: "https"}
	r, err := BlobRequest("s", ds, &DatastoreSecrets{SecretsType: "Sas", SASToken: "?sv=1&sig=x"}, "a/b c.csv", []byte("x"), timeZero)
	if err != nil {
		t.Fatal(err)
	}
	if r.URL != "https://acct.blob.core.windows.net/c/a/b%20c.csv?sv=1&sig=x" || r.Header["Authorization"] != "" {
		t.Fatalf("%s %v", r.URL, r.Header)
	}
	if _, err := BlobRequest("s", ds, &DatastoreSecrets{SecretsType: "AccountKey", Key: "not base64!"}, "x", nil, timeZero); err == nil {
		t.Fatal("a key that is not base64 was taken")
	}
}

func TestBlobURLEscapesSegmentsButNotPlaceholders(t *testing.T) {
	ds := Datastore{AccountName: "acct", ContainerName: "box"}
	for path, want := range map[string]string{
		"runs/a b/metrics.json":          "https://acct.blob.core.windows.net/box/runs/a%20b/metrics.json",
		"runs/${{ run }}/metrics.json":   "https://acct.blob.core.windows.net/box/runs/${{ run }}/metrics.json",
		"/runs/x%y/${{ run }} /out.json": "https://acct.blob.core.windows.net/box/runs/x%25y/$%7B%7B%20run%20%7D%7D%20/out.json",
	} {
		if got := ds.BlobURL(path); got != want {
			t.Errorf("BlobURL(%q) = %q, want %q", path, got, want)
		}
	}
}
