package doccheck

import (
	"bufio"
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// root is the repository root, relative to this package.
const root = "../.."

// fragmentMark starts every Go block of the docs that is not a whole file:
// the reader sees at once that it belongs inside a program.
const fragmentMark = "// fragment"

// block is one fenced code block of a Markdown file.
type block struct {
	file string // path relative to the repository root
	line int    // line of the opening fence
	lang string // the fence's info string
	text string
}

// codeBlocks returns the fenced blocks of a Markdown document.
func codeBlocks(file string, src []byte) []block {
	var (
		out   []block
		cur   *block
		lines []string
	)
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		if cur == nil {
			if lang, ok := strings.CutPrefix(l, "```"); ok {
				cur = &block{file: file, line: n, lang: strings.TrimSpace(lang)}
				lines = lines[:0]
			}
			continue
		}
		if strings.TrimSpace(l) == "```" {
			cur.text = strings.Join(lines, "\n") + "\n"
			out = append(out, *cur)
			cur = nil
			continue
		}
		lines = append(lines, l)
	}
	return out
}

// docFiles are the Markdown files whose Go blocks must compile: README.md
// and docs/*.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range more {
		rel, _ := filepath.Rel(root, f)
		files = append(files, filepath.ToSlash(rel))
	}
	return files
}

// goBlocks sorts the Go blocks of files into whole programs and
// fragments, and reports blocks that are neither.
func goBlocks(files map[string][]byte) (whole, fragments []block, errs []string) {
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		for _, b := range codeBlocks(f, files[f]) {
			if b.lang != "go" {
				continue
			}
			switch {
			case strings.HasPrefix(b.text, "package "):
				whole = append(whole, b)
			case strings.HasPrefix(b.text, fragmentMark):
				fragments = append(fragments, b)
			default:
				errs = append(errs, fmt.Sprintf("%s:%d: a ```go block is neither a whole file (starting with package) nor marked %q",
					b.file, b.line, fragmentMark))
			}
		}
	}
	return whole, fragments, errs
}

func readDocs(t *testing.T) map[string][]byte {
	t.Helper()
	m := make(map[string][]byte)
	for _, f := range docFiles(t) {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		m[f] = src
	}
	return m
}

// TestGoBlocksAreProgramsOrMarkedFragments: a reader can tell a whole
// program from a fragment, and every docs page shows a whole program.
func TestGoBlocksAreProgramsOrMarkedFragments(t *testing.T) {
	docs := readDocs(t)
	whole, _, errs := goBlocks(docs)
	for _, e := range errs {
		t.Error(e)
	}
	has := make(map[string]bool)
	for _, b := range whole {
		has[b.file] = true
	}
	for f := range docs {
		if strings.HasPrefix(f, "docs/") && !has[f] && !noProgram[f] {
			t.Errorf("%s shows no complete Go program", f)
		}
	}
}

// noProgram are docs pages that describe the repository rather than an
// API, and so need no program.
var noProgram = map[string]bool{"docs/architecture.md": true}

func TestGoBlocksClassified(t *testing.T) {
	src := map[string][]byte{"x.md": []byte("```go\npackage main\n```\n\n```go\n// fragment: a\nx := 1\n```\n\n```go\nx := 2\n```\n\n```sh\nls\n```\n")}
	whole, frags, errs := goBlocks(src)
	if len(whole) != 1 || len(frags) != 1 || len(errs) != 1 {
		t.Fatalf("whole %d, fragments %d, errors %v; want 1, 1, one error", len(whole), len(frags), errs)
	}
	if !strings.Contains(errs[0], "x.md:10") {
		t.Errorf("error %q does not name x.md:10", errs[0])
	}
}

// TestGoProgramsCompile writes every whole Go file of the docs into its own
// package of a temporary module that uses this repository (and the SDKs of
// the interop module, for the SDK users' page), and builds them all.
func TestGoProgramsCompile(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	whole, _, _ := goBlocks(readDocs(t))
	if len(whole) == 0 {
		t.Fatal("no Go program in the docs")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod, gosum, err := tempModule(abs)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "go.mod"), gomod)
	write(t, filepath.Join(dir, "go.sum"), gosum)

	where := make(map[string]block) // package dir → its block
	for i, b := range whole {
		name := fmt.Sprintf("b%02d_%s", i, strings.NewReplacer("/", "_", ".", "_").Replace(b.file))
		pkgDir := filepath.Join(dir, name)
		if err := os.Mkdir(pkgDir, 0o755); err != nil {
			t.Fatal(err)
		}
		file := "main.go"
		if strings.Contains(b.text, "\nfunc Test") || strings.Contains(b.text, "\nfunc Example") {
			file = "doc_test.go"
		}
		write(t, filepath.Join(pkgDir, file), b.text)
		where[name] = b
	}
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Name the Markdown line of each failing block.
		msg := string(out)
		for name, b := range where {
			msg = strings.ReplaceAll(msg, name+"/", fmt.Sprintf("%s (block at line %d) ", b.file, b.line))
		}
		t.Fatalf("the docs' Go programs do not build:\n%s", msg)
	}
	t.Logf("%d programs from the docs build and vet clean", len(whole))
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

var requireLine = regexp.MustCompile(`^\s*(?:require\s+)?([a-z0-9][^\s]*\.[^\s]*)\s+(v[^\s]+)`)

// tempModule returns the go.mod and go.sum of a module that requires
// apiguard (replaced by the repository at abs) and every module the root
// and interop modules require, so the docs may import the SDKs too.
func tempModule(abs string) (gomod, gosum string, err error) {
	versions := make(map[string]string)
	var order []string
	var sums strings.Builder
	for _, m := range []string{".", "interop"} {
		src, err := os.ReadFile(filepath.Join(abs, m, "go.mod"))
		if err != nil {
			return "", "", err
		}
		for _, l := range strings.Split(string(src), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "module ") || strings.Contains(l, "=>") {
				continue
			}
			sm := requireLine.FindStringSubmatch(l)
			if sm == nil || sm[1] == "github.com/clipia/apiguard" {
				continue
			}
			if old, ok := versions[sm[1]]; !ok {
				order = append(order, sm[1])
				versions[sm[1]] = sm[2]
			} else if semverLess(old, sm[2]) {
				versions[sm[1]] = sm[2]
			}
		}
		sum, err := os.ReadFile(filepath.Join(abs, m, "go.sum"))
		if err != nil {
			return "", "", err
		}
		sums.Write(sum)
	}
	var b strings.Builder
	b.WriteString("module doccheck.example\n\ngo 1.26.0\n\nrequire (\n\tgithub.com/clipia/apiguard v0.0.0\n")
	for _, p := range order {
		fmt.Fprintf(&b, "\t%s %s\n", p, versions[p])
	}
	fmt.Fprintf(&b, ")\n\nreplace github.com/clipia/apiguard => %s\n", abs)
	return b.String(), sums.String(), nil
}

// semverLess compares two versions of the form vX.Y.Z[-pre], the pre-release
// part compared as text: enough to merge two go.mod files.
func semverLess(a, b string) bool {
	pa, pb := strings.SplitN(strings.TrimPrefix(a, "v"), "-", 2), strings.SplitN(strings.TrimPrefix(b, "v"), "-", 2)
	na, nb := strings.Split(pa[0], "."), strings.Split(pb[0], ".")
	for i := 0; i < len(na) && i < len(nb); i++ {
		var x, y int
		fmt.Sscan(na[i], &x)
		fmt.Sscan(nb[i], &y)
		if x != y {
			return x < y
		}
	}
	return a < b
}

func TestSemverLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"v1.2.3", "v1.10.0", true}, {"v1.10.0", "v1.2.3", false}, {"v0.7.8", "v0.7.8", false},
		{"v2.0.0", "v10.0.0", true},
	} {
		if got := semverLess(c.a, c.b); got != c.want {
			t.Errorf("semverLess(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

// The references the documentation may contain.
var (
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// Inline code, where brackets and parentheses are Go, not links.
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	// A file name in backquotes: a path with a slash, or a name with one of
	// the repository's documentation, script or data extensions.
	mdFile = regexp.MustCompile("`((?:\\.{0,2}/)?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.*-]+)*/?)`")
	// A file name in a Go comment: the repository's own documentation and
	// scripts (Go source names in comments mostly name the standard
	// library's files, e.g. net/http's server.go).
	goFile = regexp.MustCompile(`(?:^|[\s("'\x60])((?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_-]+\.(?:md|sh))\b`)
)

// missingFiles are names that must never appear: files outside this
// repository that earlier versions referred to.
var missingFiles = []string{"EXAMPLE-SERVER" + ".md", "CONTRACT" + ".md"}

// topDirs are the repository's top-level folders and files: a backquoted
// path is checked when it starts with one of them or has a file extension
// the repository uses for its own files.
func topDirs(t *testing.T, base string) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]bool)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") || e.Name() == ".ci" {
			m[e.Name()] = true
		}
	}
	return m
}

// checkMarkdown returns the references of one Markdown file (at rel under
// base) that resolve to nothing.
func checkMarkdown(base, rel string, src []byte, top map[string]bool) []string {
	var bad []string
	dir := filepath.Dir(filepath.Join(base, rel))
	exists := func(p string) bool {
		p = strings.TrimSuffix(p, "/")
		if strings.ContainsAny(p, "*") {
			m, _ := filepath.Glob(p)
			return len(m) > 0
		}
		_, err := os.Stat(p)
		return err == nil
	}
	// Code blocks are programs and shell sessions, not references.
	text := stripFences(string(src))
	for _, m := range mdLink.FindAllStringSubmatch(inlineCode.ReplaceAllString(text, ""), -1) {
		target := m[1]
		if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") ||
			strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		target, _, _ = strings.Cut(target, "#")
		if !exists(filepath.Join(dir, target)) {
			bad = append(bad, fmt.Sprintf("%s: link to %s: no such file", rel, m[1]))
		}
	}
	for _, m := range mdFile.FindAllStringSubmatch(text, -1) {
		name := m[1]
		first, _, _ := strings.Cut(strings.TrimPrefix(name, "./"), "/")
		ext := filepath.Ext(strings.TrimSuffix(name, "/"))
		own := top[first] && strings.Contains(name, "/")
		switch ext {
		case ".md", ".sh", ".sql", ".json", ".go":
			own = own || !strings.Contains(name, "/")
		case "", ".txt", ".yaml", ".yml", ".mod", ".sum":
		default:
			own = false // a Go selector such as ratelimit/storetest.Run
		}
		if !own || strings.Contains(name, "...") {
			continue
		}
		if !exists(filepath.Join(dir, name)) && !exists(filepath.Join(base, name)) && !existsBelow(base, name) {
			bad = append(bad, fmt.Sprintf("%s: names %s: no such file", rel, name))
		}
	}
	return bad
}

// existsBelow reports whether a bare file name (no slash) exists anywhere
// in the repository: prose says "schema.sql" or "main_test.go" next to the
// package it belongs to.
func existsBelow(base, name string) bool {
	if strings.Contains(name, "/") {
		return false
	}
	found := false
	_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipDir
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != base {
			return filepath.SkipDir
		}
		if d.Name() == name {
			found = true
		}
		return nil
	})
	return found
}

func stripFences(s string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// checkGoComments returns the .md and .sh files named in the comments of a
// Go file that resolve to nothing (relative to the file's folder or the
// repository root).
func checkGoComments(base, rel string, src []byte) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, rel, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil // not ours to judge (e.g. a testdata file that does not parse)
	}
	var bad []string
	dir := filepath.Dir(filepath.Join(base, rel))
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			for _, m := range goFile.FindAllStringSubmatch(c.Text, -1) {
				name := m[1]
				_, e1 := os.Stat(filepath.Join(dir, name))
				_, e2 := os.Stat(filepath.Join(base, name))
				if e1 != nil && e2 != nil && !existsBelow(base, name) {
					bad = append(bad, fmt.Sprintf("%s:%d: comment names %s: no such file",
						rel, fset.Position(c.Pos()).Line, name))
				}
			}
		}
	}
	return bad
}

// walkRepo calls fn for every file of the repository, skipping hidden
// folders and the module caches of nested tooling.
func walkRepo(t *testing.T, base string, fn func(rel string, src []byte)) {
	t.Helper()
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != base && (strings.HasPrefix(d.Name(), ".") && d.Name() != ".ci" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".md") && !strings.HasSuffix(p, ".go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		fn(filepath.ToSlash(rel), src)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoReferenceToAMissingFile: every relative Markdown link and every
// backquoted repository path in a Markdown file resolves (but the paths
// CHANGELOG.md names, which record what was removed), every .md or .sh
// file named in a Go comment exists, and no file names the documents that
// live outside the repository.
func TestNoReferenceToAMissingFile(t *testing.T) {
	top := topDirs(t, root)
	walkRepo(t, root, func(rel string, src []byte) {
		if rel == "internal/doccheck/doccheck_test.go" {
			return // names the bad references on purpose
		}
		for _, name := range missingFiles {
			if bytes.Contains(src, []byte(name)) {
				t.Errorf("%s refers to %s, which is not in the repository", rel, name)
			}
		}
		var bad []string
		switch {
		case strings.HasSuffix(rel, ".md"):
			bad = checkMarkdown(root, rel, src, top)
		case strings.HasSuffix(rel, ".go") && !strings.Contains(rel, "/testdata/"):
			bad = checkGoComments(root, rel, src)
		}
		for _, b := range bad {
			if pending[b] || rel == "CHANGELOG.md" && strings.Contains(b, ": names ") {
				// The changelog names what a release removed or moved:
				// its backquoted paths are history; its links must resolve.
				continue
			}
			t.Error(b)
		}
	})
}

// pending are references to files that other work in progress adds; each
// entry goes when its file lands.
var pending = map[string]bool{}

// TestReferenceCheckers: the checkers find what they must (so the test
// above can fail) and accept what resolves.
func TestReferenceCheckers(t *testing.T) {
	base := t.TempDir()
	write(t, filepath.Join(base, "README.md"), "x")
	if err := os.MkdirAll(filepath.Join(base, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(base, "docs", "a.md"), "x")
	top := map[string]bool{"docs": true, "README.md": true}
	md := "See [a](a.md), [up](../README.md), [web](https://x.test/y.md), [anchor](#z),\n" +
		"`docs/a.md` and `a.md`.\n" +
		"Broken: [b](b.md), `docs/nope.md`, `gone.sql`.\n" +
		"```sh\ncat docs/missing.md\n```\n"
	bad := checkMarkdown(base, "docs/a.md", []byte(md), top)
	want := []string{"link to b.md", "names docs/nope.md", "names gone.sql"}
	if len(bad) != len(want) {
		t.Fatalf("found %q; want %d problems (%q)", bad, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(bad[i], w) {
			t.Errorf("problem %d = %q, want it to mention %q", i, bad[i], w)
		}
	}
	goSrc := "// Package p: see README.md and docs/a.md, not docs/gone.md or run.sh.\n// net/http's server.go is not checked.\npackage p\n"
	bad = checkGoComments(base, "p.go", []byte(goSrc))
	if len(bad) != 2 || !strings.Contains(bad[0], "docs/gone.md") || !strings.Contains(bad[1], "run.sh") {
		t.Errorf("Go comment problems = %q; want docs/gone.md and run.sh", bad)
	}
}
