// Package doccheck holds the repository's documentation tests: every Go
// program shown in README.md and docs/*.md compiles, every other Go block is
// marked as a fragment, every docs page shows at least one whole program,
// and no Markdown link, file name or Go comment names a file the repository
// does not contain (CHANGELOG.md may name the paths a release removed). It
// has no code of its own.
package doccheck
