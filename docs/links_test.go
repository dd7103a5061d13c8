// Package docs holds the project's documentation. This test keeps the pointers into it
// honest: code comments cite sections as docs/FILE.md#anchor, and a renamed heading must
// not leave them dangling.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// anchors returns the GitHub anchors of a Markdown file's headings: lower case, punctuation
// other than '-' and '_' dropped, spaces to '-', and "-1", "-2", ... on repeats.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var a strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				a.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				a.WriteRune(r)
			}
		}
		id := a.String()
		if n := seen[id]; n > 0 {
			seen[id]++
			id += "-" + strconv.Itoa(n)
		} else {
			seen[id] = 1
		}
		out[id] = true
	}
	return out
}

var (
	// A Markdown link to a local file, with an optional anchor: ](steps.md#dataset-output), ](#limits).
	mdLink = regexp.MustCompile(`\]\(([A-Za-z0-9_./-]*\.md)?(#[A-Za-z0-9_-]+)?\)`)
	// A pointer from code or the README: docs/automl.md#validation.
	codeRef = regexp.MustCompile(`docs/([A-Za-z0-9_-]+\.md)(#[A-Za-z0-9_-]+)?`)
)

// TestLinksResolve checks every link between the documents and every docs/FILE.md#anchor
// cited anywhere in the repository's Go, CUE, Markdown and script files.
func TestLinksResolve(t *testing.T) {
	docs, err := filepath.Glob("*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no documents found (%v)", err)
	}
	known := map[string]map[string]bool{}
	for _, d := range docs {
		known[d] = anchors(t, d)
	}
	check := func(where, file, anchor string) {
		a, ok := known[file]
		if !ok {
			t.Errorf("%s: links to %s, which is not in docs/", where, file)
			return
		}
		if anchor != "" && !a[strings.TrimPrefix(anchor, "#")] {
			t.Errorf("%s: %s has no heading for %s", where, file, anchor)
		}
	}
	for _, d := range docs {
		b, _ := os.ReadFile(d)
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			file := m[1]
			if file == "" {
				file = d
			}
			if m[1] == "" && m[2] == "" {
				continue
			}
			if strings.HasPrefix(filepath.Clean(file), "..") {
				// Out of docs/, to another document of the repository: it must be there.
				if _, err := os.Stat(file); err != nil {
					t.Errorf("docs/%s: links to %s, which is not in the repository", d, file)
				} else if m[2] != "" && !anchors(t, file)[strings.TrimPrefix(m[2], "#")] {
					t.Errorf("docs/%s: %s has no heading for %s", d, file, m[2])
				}
				continue
			}
			check("docs/"+d, filepath.Base(file), m[2])
		}
	}
	n := 0
	err = filepath.WalkDir("..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			// docs/ itself is checked above, link by link.
			if name := e.Name(); path != ".." && strings.HasPrefix(name, ".") || path == filepath.Join("..", "docs") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".cue", ".md", ".sh":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range codeRef.FindAllStringSubmatch(string(b), -1) {
			n++
			check(filepath.ToSlash(strings.TrimPrefix(path, ".."+string(filepath.Separator))), m[1], m[2])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("found no docs/ pointer outside docs/: the walk is not reading the repository")
	}
}

// TestAnchors pins the anchor rule on headings the code cites, so that a change to the rule
// shows here rather than as a wave of false alarms.
func TestAnchors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.md")
	src := "# Title\n## Azure ML: /score\n### exit_code and files outputs\n```\n# not a heading\n```\n## Limits\n## Limits\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := anchors(t, p)
	for _, want := range []string{"title", "azure-ml-score", "exit_code-and-files-outputs", "limits", "limits-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("a line in a code fence was read as a heading")
	}
}
