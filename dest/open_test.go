package dest

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// opened is what a fake backend was asked to open.
type opened struct {
	Destination // nil: the tests only look at what reached the opener
	backend     string
	target      string
	config      *OpenConfig
}

func fakeBackend(name string, schemes, suffixes []string) Backend {
	return Backend{
		Name: name, Schemes: schemes, Suffixes: suffixes, Usage: []string{name + ":X"},
		Target: func(_, rest string) (string, error) {
			if rest == "" {
				return "", errors.New("needs an X, e.g. " + name + ":x")
			}
			return rest, nil
		},
		Open: func(_ context.Context, target string, c *OpenConfig) (Destination, error) {
			return &opened{backend: name, target: target, config: c}, nil
		},
	}
}

// The package's own tests link no real backend in (they import dest), so these are the only ones.
func init() {
	Register(fakeBackend("zfake", []string{"zfake", "zf"}, []string{".zf"}))
	Register(fakeBackend("afake", []string{"afake"}, nil))
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, backend, target, problem string
	}{
		{in: "zfake:a/b", backend: "zfake", target: "a/b"},
		{in: "  ZF:a  ", backend: "zfake", target: "a"},
		{in: "afake:x:y", backend: "afake", target: "x:y"},
		{in: "dir/w.ZF", backend: "zfake", target: "dir/w.ZF"},
		{in: "nope://w.zf", backend: "zfake", target: "nope://w.zf"}, // an unknown scheme, but a claimed suffix
		{in: "zf:", problem: "zf: needs an X, e.g. zfake:x"},
		{in: " ", problem: "is empty: use afake:X or zfake:X"},
		{in: "ftp://x", problem: `"ftp://x" is not a destination I know: use afake:X or zfake:X`},
		{in: "w.zfx", problem: `"w.zfx" is not a destination I know: use afake:X or zfake:X`},
		{in: ":zfake", problem: `":zfake" is not a destination I know: use afake:X or zfake:X`},
	} {
		u, err := Parse(tc.in)
		var ue *URLError
		switch {
		case tc.problem == "" && (err != nil || u != URL{Backend: tc.backend, Target: tc.target}):
			t.Errorf("Parse(%q) = %+v, %v; want %s %q", tc.in, u, err, tc.backend, tc.target)
		case tc.problem != "" && (!errors.As(err, &ue) || ue.Problem != tc.problem || ue.URL != tc.in):
			t.Errorf("Parse(%q) = %+v, %v; want the problem %q", tc.in, u, err, tc.problem)
		case tc.problem != "" && err.Error() != "destination "+tc.problem:
			t.Errorf("Parse(%q) error reads %q", tc.in, err)
		}
	}
}

func TestOpenPassesOptions(t *testing.T) {
	key := struct{ name string }{"k"}
	d, err := Open(context.Background(), "zf:t", WithPrefix("p_"), MustExist(), WithBackendOption("zfake", key, 7))
	if err != nil {
		t.Fatal(err)
	}
	o := d.(*opened)
	v, ok := o.config.Value(key)
	if o.backend != "zfake" || o.target != "t" || o.config.Prefix != "p_" || !o.config.MustExist || !ok || v != 7 {
		t.Errorf("the opener got %+v %+v (value %v %v)", o, o.config, v, ok)
	}
	if _, ok := o.config.Value("other"); ok {
		t.Error("Value of a key never set reports one")
	}

	d, err = Open(context.Background(), "afake:t")
	if err != nil || d.(*opened).config.MustExist || d.(*opened).config.Prefix != "" {
		t.Errorf("Open without options = %+v, %v", d, err)
	}
	if _, err := Open(context.Background(), "afake:t", WithBackendOption("zfake", key, 7)); err == nil ||
		!strings.Contains(err.Error(), "option of the zfake destination") {
		t.Errorf("an option of another backend: %v", err)
	}
	if _, err := (URL{Backend: "nofake", Target: "t"}).Open(context.Background()); err == nil {
		t.Error("a URL of no registered backend opened")
	}
	if d, err := (URL{Backend: "afake", Target: "t"}).Open(context.Background()); err != nil || d.(*opened).target != "t" {
		t.Errorf("URL.Open = %+v, %v", d, err)
	}
	var ue *URLError
	if _, err := Open(context.Background(), "afake:"); !errors.As(err, &ue) {
		t.Errorf("Open of a bad URL = %v, want a *URLError", err)
	}
}

func TestRegisterRefuses(t *testing.T) {
	good := fakeBackend("other", []string{"other"}, nil)
	for name, b := range map[string]Backend{
		"a name twice":           fakeBackend("zfake", []string{"zfake2"}, nil),
		"a scheme twice":         fakeBackend("other", []string{"other", "zf"}, nil),
		"an upper-case scheme":   fakeBackend("other", []string{"Other"}, nil),
		"an empty scheme":        fakeBackend("other", []string{""}, nil),
		"no schemes":             fakeBackend("other", nil, nil),
		"no name":                fakeBackend("", []string{"other"}, nil),
		"no Open":                {Name: good.Name, Schemes: good.Schemes, Target: good.Target},
		"no Target":              {Name: good.Name, Schemes: good.Schemes, Open: good.Open},
		"a scheme of its own 2x": fakeBackend("other", []string{"other", "other"}, nil),
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register of %s did not panic", name)
				}
			}()
			Register(b)
		}()
	}
	// Nothing of a refused Backend was kept.
	if _, err := Parse("other:x"); err == nil {
		t.Error("a refused Backend's scheme is registered")
	}
}
