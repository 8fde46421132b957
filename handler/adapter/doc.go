// Package adapter fronts common agent backends with no code on their side:
// presets of jq expressions (package shape) that turn any caller's body
// into the backend's request and its answer into {"answer", ...}, plus
// what those backends need besides: token usage, OpenAI error bodies, and
// OpenAI's streamed answers assembled for the chat history while they pass
// through.
//
// A preset is data: its expressions are plain jq text, the same an
// operator can write by hand, so the README can show them to copy and
// change.
package adapter
