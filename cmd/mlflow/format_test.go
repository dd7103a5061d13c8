package main

import "testing"

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"/score", "/score"},
		{"café ✓ 日本", "café ✓ 日本"},
		{"/x\x1b[31mred\x1b[0m", `/x\x1b[31mred\x1b[0m`},
		{"a\r\nb\tc", `a\x0d\x0ab\x09c`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\x9b31m`},
		{"bidi\u202egnp.exe", `bidi\u202egnp.exe`},
		{"iso\u2066x\u2069", `iso\u2066x\u2069`},
		{"ls\u2028next", `ls\u2028next`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"\xe2\x82", `\xe2\x82`},
	} {
		if got := clean(c.in); got != c.want {
			t.Errorf("clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
