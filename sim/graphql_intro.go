package sim

import (
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Introspection ("Introspection (__schema) is supported", wave 2 §7; GraphiQL fetches the schema) is
// answered from the parsed schema itself: __schema and __type build the introspection objects as
// records, which the executor then selects from like any other. Types refer to each other, so their
// parts are built lazily, only as far as a query selects them.

// lazy is a field value computed only when selected.
type lazy func() any

func description(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func introSchema(sc *ast.Schema) obj {
	names := make([]string, 0, len(sc.Types))
	for n := range sc.Types {
		names = append(names, n)
	}
	sort.Strings(names)
	dirNames := make([]string, 0, len(sc.Directives))
	for n := range sc.Directives {
		dirNames = append(dirNames, n)
	}
	sort.Strings(dirNames)
	return obj{{"description", description(sc.Description)},
		{"query-type", lazy(func() any { return introNamed(sc, sc.Query) })},
		{"mutation-type", nil}, {"subscription-type", nil},
		{"types", lazy(func() any {
			out := make([]obj, len(names))
			for i, n := range names {
				out[i] = introNamed(sc, sc.Types[n])
			}
			return out
		})},
		{"directives", lazy(func() any {
			out := make([]obj, len(dirNames))
			for i, n := range dirNames {
				out[i] = introDirective(sc, sc.Directives[n])
			}
			return out
		})}}
}

// introType is the __Type of a type reference: NON_NULL and LIST wrap the named type.
func introType(sc *ast.Schema, t *ast.Type) obj {
	switch {
	case t.NonNull:
		inner := *t
		inner.NonNull = false
		return obj{{"kind", "NON_NULL"}, {"name", nil}, {"of-type", lazy(func() any { return introType(sc, &inner) })}}
	case t.Elem != nil:
		return obj{{"kind", "LIST"}, {"name", nil}, {"of-type", lazy(func() any { return introType(sc, t.Elem) })}}
	}
	return introNamed(sc, sc.Types[t.NamedType])
}

// introNamed is the __Type of a named type.
func introNamed(sc *ast.Schema, d *ast.Definition) obj {
	if d == nil {
		return nil
	}
	var fields, interfaces, possible, enums, inputs any
	switch d.Kind {
	case ast.Object, ast.Interface:
		fields = lazy(func() any { return introFields(sc, d.Fields) })
		interfaces = lazy(func() any { return introNames(sc, d.Interfaces) })
	case ast.InputObject:
		inputs = lazy(func() any { return introArgs(sc, fieldArgs(d.Fields)) })
	case ast.Enum:
		list := make([]obj, len(d.EnumValues))
		for i, e := range d.EnumValues {
			list[i] = obj{{"name", e.Name}, {"description", description(e.Description)}, {"is-deprecated", false}, {"deprecation-reason", nil}}
		}
		enums = list
	}
	if d.IsAbstractType() {
		possible = lazy(func() any {
			var names []string
			for _, p := range sc.GetPossibleTypes(d) {
				names = append(names, p.Name)
			}
			return introNames(sc, names)
		})
	}
	return obj{{"kind", string(d.Kind)}, {"name", d.Name}, {"description", description(d.Description)},
		{"fields", fields}, {"interfaces", interfaces}, {"possible-types", possible}, {"enum-values", enums},
		{"input-fields", inputs}, {"of-type", nil}, {"specified-by-url", nil}}
}

func introNames(sc *ast.Schema, names []string) []obj {
	out := make([]obj, 0, len(names))
	for _, n := range names {
		out = append(out, introNamed(sc, sc.Types[n]))
	}
	return out
}

// introFields lists an object's fields; the introspection fields of Query are not listed, as is usual.
func introFields(sc *ast.Schema, fs ast.FieldList) []obj {
	out := make([]obj, 0, len(fs))
	for _, f := range fs {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		out = append(out, obj{{"name", f.Name}, {"description", description(f.Description)},
			{"args", introArgs(sc, f.Arguments)}, {"type", lazy(func() any { return introType(sc, f.Type) })},
			{"is-deprecated", false}, {"deprecation-reason", nil}})
	}
	return out
}

func fieldArgs(fs ast.FieldList) ast.ArgumentDefinitionList {
	out := make(ast.ArgumentDefinitionList, len(fs))
	for i, f := range fs {
		out[i] = &ast.ArgumentDefinition{Name: f.Name, Description: f.Description, Type: f.Type, DefaultValue: f.DefaultValue}
	}
	return out
}

func introArgs(sc *ast.Schema, args ast.ArgumentDefinitionList) []obj {
	out := make([]obj, len(args))
	for i, a := range args {
		var def any
		if a.DefaultValue != nil {
			def = a.DefaultValue.String()
		}
		out[i] = obj{{"name", a.Name}, {"description", description(a.Description)},
			{"type", lazy(func() any { return introType(sc, a.Type) })}, {"default-value", def},
			{"is-deprecated", false}, {"deprecation-reason", nil}}
	}
	return out
}

func introDirective(sc *ast.Schema, d *ast.DirectiveDefinition) obj {
	locs := make([]any, len(d.Locations))
	for i, l := range d.Locations {
		locs[i] = string(l)
	}
	return obj{{"name", d.Name}, {"description", description(d.Description)}, {"locations", locs},
		{"args", introArgs(sc, d.Arguments)}, {"is-repeatable", d.IsRepeatable}}
}
