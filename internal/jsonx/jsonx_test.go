package jsonx

import (
	"encoding/json"
	"testing"
)

// The output must equal encoding/json's for every string, valid or not.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\`, "<a&b>", "tab\tnl\n\r", "\x00\x1f", "é☃", "\u2028\u2029", "\xff\xfe", "a\xc3", "\b\f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	})
}
