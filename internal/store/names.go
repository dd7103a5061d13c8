package store

import (
	"fmt"
	"strconv"
	"strings"
)

// CheckName checks the name of something the workspace keeps (a dataset, a model, an
// endpoint): it becomes a path segment, a URL segment and part of NAME:VERSION refs, so
// letters, digits, '.', '_' and '-', starting with a letter or digit, at most max long.
func CheckName(what, name string, max int) error {
	ok := name != "" && len(name) <= max
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%s name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit (at most %d)", what, name, max)
	}
	return nil
}

// ParseRef splits a registry ref, NAME or NAME:VERSION; version is 0 (the latest) when absent.
func ParseRef(what, ref string, max int) (name string, version int, err error) {
	name, v, ok := strings.Cut(ref, ":")
	if ok {
		version, err = strconv.Atoi(v)
		if err != nil || version < 1 {
			return "", 0, fmt.Errorf("%s %q: version %q is not a positive number (want NAME or NAME:VERSION)", what, ref, v)
		}
	}
	if err := CheckName(what, name, max); err != nil {
		return "", 0, err
	}
	return name, version, nil
}

// NotFound words a ref that names nothing: an unknown name, or a version the name does not
// have, listing the versions it has.
func NotFound(what, name string, version int, have []int) string {
	if len(have) == 0 || version == 0 {
		return fmt.Sprintf("no %s %q", what, name)
	}
	vs := make([]string, len(have))
	for i, v := range have {
		vs[i] = strconv.Itoa(v)
	}
	return fmt.Sprintf("%s %q has no version %d (versions: %s)", what, name, version, strings.Join(vs, ", "))
}
