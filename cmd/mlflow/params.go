package main

import (
	"fmt"
	"sort"
	"strings"
)

// paramFlags is the repeatable -p name=value flag. Values stay strings
// here; the schema types them by the param's declaration.
type paramFlags map[string]string

func (p paramFlags) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p[k]
	}
	return strings.Join(parts, ",")
}

func (p paramFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("-p %q: want name=value", s)
	}
	p[name] = value
	return nil
}
