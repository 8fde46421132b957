package agenthook

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The version constant and the changelog name the same release.
func TestVersionInChangelog(t *testing.T) {
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`).MatchString(Version) {
		t.Fatalf("Version %q is not a semantic version without the v", Version)
	}
	b, err := os.ReadFile("CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	var releases []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## [") && !strings.HasPrefix(line, "## [Unreleased]") {
			releases = append(releases, line)
		}
	}
	if len(releases) == 0 || !strings.HasPrefix(releases[0], "## ["+Version+"]") {
		t.Fatalf("the newest release in CHANGELOG.md should be %s; its release headings are %q", Version, releases)
	}
}
