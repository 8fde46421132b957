// A module of its own, so that xcaddy can name it: xcaddy's --with takes a
// module, and `go get` of a package path inside agenthook's module asks a
// module proxy for github.com/agenthook/agenthook/demo first, which fails
// while agenthook is not published. xcaddy.sh builds the demo Caddy with
//
//	--with github.com/agenthook/agenthook/demo/plugin@v<Version>=./demo/plugin
//
// beside agenthook itself; both are replaced by directories of this
// checkout, so no proxy is asked. It needs no require: the build's own
// go.mod already has agenthook, replaced by this checkout.
module github.com/agenthook/agenthook/demo/plugin

go 1.26.8
