package store

import "testing"

func TestCheckNameAndParseRef(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{{"bank", true}, {"Bank.v2_x-1", true}, {"9lives", true}, {"", false}, {"-x", false}, {".x", false},
		{"a b", false}, {"a/b", false}, {"é", false}, {"abcde", true}, {"abcdef", false}} {
		max := 5
		if len(c.name) > 5 && c.ok {
			max = 64
		}
		if err := CheckName("model", c.name, max); (err == nil) != c.ok {
			t.Errorf("CheckName(%q): %v, want ok=%v", c.name, err, c.ok)
		}
	}
	for _, c := range []struct {
		ref     string
		name    string
		version int
		ok      bool
	}{{"bank", "bank", 0, true}, {"bank:3", "bank", 3, true}, {"bank:0", "", 0, false}, {"bank:x", "", 0, false}, {":2", "", 0, false}} {
		n, v, err := ParseRef("model", c.ref, 128)
		if (err == nil) != c.ok || n != c.name || v != c.version {
			t.Errorf("ParseRef(%q) = %q, %d, %v", c.ref, n, v, err)
		}
	}
	if got := NotFound("dataset", "bank", 7, []int{1, 2}); got != `dataset "bank" has no version 7 (versions: 1, 2)` {
		t.Errorf("NotFound: %s", got)
	}
}
