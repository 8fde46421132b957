package agenthook

// Version is this agenthook release, without the leading "v": the newest
// release in CHANGELOG.md. xcaddy.sh builds Caddy with
// --with github.com/agenthook/agenthook@v<Version>=<checkout>, which puts it
// into the binary's build info, where `caddy list-modules --versions` and
// `caddy build-info` read it.
const Version = "0.1.0"
