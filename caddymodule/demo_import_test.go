package caddymodule

// Tests that adapt Caddyfile.example need its demo directives, which live
// in package demo so that production builds leave them out.
import _ "github.com/agenthook/agenthook/demo"
