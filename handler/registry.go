package handler

import "slices"

// Registry holds the implementations of one kind by name, such as the
// request formats of endpoints or the payload formats of callbacks, with
// the default one that an empty name means. It is filled once, at package
// init, and read-only after.
type Registry[T any] struct {
	def    string
	byName map[string]T
}

// NewRegistry makes a registry of byName whose default is def, which
// byName must hold.
func NewRegistry[T any](def string, byName map[string]T) Registry[T] {
	if _, ok := byName[def]; !ok {
		panic("handler: a registry's default " + def + " is not in it")
	}
	return Registry[T]{def: def, byName: byName}
}

// Get returns the implementation of a name; "" is the default.
func (r Registry[T]) Get(name string) (T, bool) {
	if name == "" {
		name = r.def
	}
	v, ok := r.byName[name]
	return v, ok
}

// Default returns the default implementation.
func (r Registry[T]) Default() T { return r.byName[r.def] }

// Names lists the names, the default first and the others sorted, for
// messages such as "use raw or cognigy".
func (r Registry[T]) Names() []string {
	names := make([]string, 0, len(r.byName))
	for name := range r.byName {
		if name != r.def {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return append([]string{r.def}, names...)
}
