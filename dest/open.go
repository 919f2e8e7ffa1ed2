package dest

// Opening a destination by URL. Each backend package registers the URL schemes it reads from its init, as
// database/sql drivers do (litestream's NewReplicaClientFromURL is the model), and Open hands a URL to the
// backend that claims it: which URLs exist is data (scheme -> Backend), and a new backend touches no caller.
// Programs import dest/all, which links every backend in, or blank-import only the backends they want.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// A Backend is what a destination package registers so that Open reaches it by URL.
type Backend struct {
	// Name is the backend's name, as URL.Backend reports it ("postgres", for postgresql:// URLs too).
	Name string
	// Schemes are the URL schemes it reads ("sqlite" for sqlite:PATH), in lower case; a URL's scheme is
	// matched without case.
	Schemes []string
	// Suffixes claim a bare path: a URL with no registered scheme whose end is one of them (".db", matched
	// without case) is the backend's target as it is.
	Suffixes []string
	// Usage lists the URL forms for the message about an unknown URL ("sqlite:PATH", "PATH.db").
	Usage []string
	// Target reads a URL of one of Schemes, given whole (raw, trimmed) and after "scheme:" (rest): the path,
	// DSN or directory to open, or why there is none (an error such as "needs a file path, e.g.
	// sqlite:coupa.db", which Parse prefixes with the scheme). It opens nothing, so that a command line
	// is checked before anything is created; a backend that reads several kinds of target (a directory,
	// an object store) dispatches on rest in Open.
	Target func(raw, rest string) (string, error)
	// Open opens target (what Target returned, or a bare path) with the options given to dest.Open.
	Open func(ctx context.Context, target string, c *OpenConfig) (Destination, error)
}

// registry holds every registered backend. backends is kept sorted by name, so the list of URL forms and
// the order bare-path suffixes are tried in do not depend on the order packages were initialised in.
var registry struct {
	mu       sync.RWMutex
	byScheme map[string]*Backend
	backends []*Backend
}

// Register makes b reachable by Open and Parse. It is meant to be called from the backend package's init.
// Like database/sql's Register it panics on a programming error: a scheme or name registered twice, or a
// Backend without Name, Schemes, Target or Open.
func Register(b Backend) {
	if b.Name == "" || len(b.Schemes) == 0 || b.Target == nil || b.Open == nil {
		panic(fmt.Sprintf("dest: Register of %q needs a Name, Schemes, Target and Open", b.Name))
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.byScheme == nil {
		registry.byScheme = map[string]*Backend{}
	}
	for _, r := range registry.backends {
		if r.Name == b.Name {
			panic("dest: Register called twice for backend " + b.Name)
		}
	}
	for i, s := range b.Schemes {
		if s == "" || s != strings.ToLower(s) || registry.byScheme[s] != nil || slices.Contains(b.Schemes[:i], s) {
			panic(fmt.Sprintf("dest: Register of %s: scheme %q is empty, not lower case or already registered", b.Name, s))
		}
	}
	nb := &b
	for _, s := range b.Schemes {
		registry.byScheme[s] = nb
	}
	i, _ := slices.BinarySearchFunc(registry.backends, b.Name, func(r *Backend, name string) int {
		return strings.Compare(r.Name, name)
	})
	registry.backends = slices.Insert(registry.backends, i, nb)
}

// URL is a destination URL as its backend read it.
type URL struct {
	Backend string // the Backend's Name
	Target  string // what the backend opens: a file path, a DSN, a directory
}

// A URLError is a destination URL that no backend claims, or that its backend cannot read.
type URLError struct {
	URL string // as given
	// Problem says what is wrong and how to write it right: "sqlite: needs a file path, e.g.
	// sqlite:coupa.db", "is empty: use ...", `"ftp://x" is not a destination I know: use ...`.
	Problem string
}

func (e *URLError) Error() string { return "destination " + e.Problem }

// Parse reads rawURL (surrounding space ignored) without opening anything: a registered scheme
// ("sqlite:w.db", "postgres://h/db"), else a bare path a backend claims by its suffix ("w.db"). Its errors
// are *URLError.
func Parse(rawURL string) (URL, error) {
	s := strings.TrimSpace(rawURL)
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	if s == "" {
		return URL{}, &URLError{URL: rawURL, Problem: "is empty: " + usage()}
	}
	if i := strings.IndexByte(s, ':'); i > 0 {
		scheme := strings.ToLower(s[:i])
		if b := registry.byScheme[scheme]; b != nil {
			target, err := b.Target(s, s[i+1:])
			if err != nil {
				return URL{}, &URLError{URL: rawURL, Problem: scheme + ": " + err.Error()}
			}
			return URL{Backend: b.Name, Target: target}, nil
		}
	}
	low := strings.ToLower(s)
	for _, b := range registry.backends {
		for _, suffix := range b.Suffixes {
			if strings.HasSuffix(low, suffix) {
				return URL{Backend: b.Name, Target: s}, nil
			}
		}
	}
	return URL{}, &URLError{URL: rawURL, Problem: fmt.Sprintf("%q is not a destination I know: %s", s, usage())}
}

// usage is the one-line list of the URL forms of every registered backend. The caller holds registry.mu.
func usage() string {
	var forms []string
	for _, b := range registry.backends {
		forms = append(forms, b.Usage...)
	}
	switch len(forms) {
	case 0:
		return "no destination backend is linked in (import github.com/coupa-connector/coupa-connector/dest/all)"
	case 1:
		return "use " + forms[0]
	}
	return "use " + strings.Join(forms[:len(forms)-1], ", ") + " or " + forms[len(forms)-1]
}

// Open opens the destination rawURL names (see Parse), creating an empty warehouse there unless MustExist
// is given. Backend-specific options (postgres.WithSchema) must be meant for the backend the URL names.
func Open(ctx context.Context, rawURL string, opts ...OpenOption) (Destination, error) {
	u, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	return u.Open(ctx, opts...)
}

// Open opens u, as Open does the URL it was parsed from: a caller that checked a URL long before opening
// it (a command line, before it connects anywhere) keeps the URL rather than the string.
func (u URL) Open(ctx context.Context, opts ...OpenOption) (Destination, error) {
	registry.mu.RLock()
	i := slices.IndexFunc(registry.backends, func(b *Backend) bool { return b.Name == u.Backend })
	var b *Backend
	if i >= 0 {
		b = registry.backends[i]
	}
	registry.mu.RUnlock()
	if b == nil {
		return nil, fmt.Errorf("no destination backend %q is registered", u.Backend)
	}
	c := &OpenConfig{}
	for _, o := range opts {
		o(c)
	}
	for _, v := range c.backend {
		if v.backend != b.Name {
			return nil, fmt.Errorf("%s: an option of the %s destination does not apply here", b.Name, v.backend)
		}
	}
	return b.Open(ctx, u.Target, c)
}

// ErrNoWarehouse is wrapped by the error of a backend's Open when MustExist is given and nothing is at the
// target yet ("no warehouse at w.db").
var ErrNoWarehouse = errors.New("no warehouse")

// OpenConfig is what a backend's Open receives: the options common to every backend, and those meant for it.
type OpenConfig struct {
	Options
	// MustExist refuses to create a warehouse: for reading one a sync made (`coupa state`).
	MustExist bool
	backend   map[any]backendValue
}

type backendValue struct {
	backend string // the Backend.Name it is meant for
	value   any
}

// Value returns the backend-specific option stored under key by WithBackendOption.
func (c *OpenConfig) Value(key any) (any, bool) {
	v, ok := c.backend[key]
	return v.value, ok
}

// An OpenOption adjusts how Open opens a destination.
type OpenOption func(*OpenConfig)

// WithPrefix sets Options.Prefix: the prefix of every data table name.
func WithPrefix(prefix string) OpenOption { return func(c *OpenConfig) { c.Prefix = prefix } }

// MustExist makes Open fail, with ErrNoWarehouse, instead of creating a warehouse that is not there.
func MustExist() OpenOption { return func(c *OpenConfig) { c.MustExist = true } }

// WithBackendOption stores value under key for the backend named backend, which reads it with
// OpenConfig.Value. Backends wrap it in a typed constructor (postgres.WithSchema) with a key of an unexported
// type, as context values do; Open refuses it for a URL of another backend rather than ignore it.
func WithBackendOption(backend string, key, value any) OpenOption {
	return func(c *OpenConfig) {
		if c.backend == nil {
			c.backend = map[any]backendValue{}
		}
		c.backend[key] = backendValue{backend: backend, value: value}
	}
}
