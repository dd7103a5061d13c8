package digest

import "testing"

// The form is what workspaces already hold: changing it would orphan every stored blob.
func TestBytes(t *testing.T) {
	const hello = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if got := Bytes([]byte("hello")); got != hello {
		t.Errorf("Bytes(hello) = %s, want %s", got, hello)
	}
}
