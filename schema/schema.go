// Package schema generates the JSON Schema (draft 2020-12) of the config
// file from the config types themselves: every key with its type, default,
// allowed values and the one-line description written as the Go field's
// comment. Editors (VS Code's YAML extension, any yaml-language-server
// client) use it to complete and check keys; `sophos-connect schema` prints
// it. Fields may carry `enum:"a,b,c"` tags for their allowed values.
package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/cluster"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks"
	"github.com/sophos-connect/sophos-connect/transforms"
)

// ID is the schema's $id. It names the document; editors load the schema
// from the path or URL in each file's `# yaml-language-server: $schema=`.
const ID = "https://github.com/sophos-connect/sophos-connect/sophos-connect.schema.json"

// Object is one JSON Schema node.
type Object = map[string]any

// Patterns for the config's own scalar forms.
const (
	durationPattern = `^\s*((([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))+|[0-9]+(\.[0-9]+)?)\s*$`
	sizePattern     = `^\s*[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$`
	// envPattern is a whole-value ${VAR} or ${VAR:-default}: it may stand for
	// a number or a boolean too (expanded before decoding).
	envPattern = `^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$`
)

var (
	durationType = reflect.TypeOf(config.Duration(0))
	sizeType     = reflect.TypeOf(config.ByteSize(0))
	secretType   = reflect.TypeOf(config.Secret(""))
	nodeType     = reflect.TypeOf(yaml.Node{})
	componentTyp = reflect.TypeOf(config.Component{})
)

// Missing lists the keys a schema built without a description for them
// ("sinks.kafka.topic (kafka.Config.Topic)"), for the test that requires one.
type Missing []string

// builder walks the config types.
type builder struct {
	docs     map[string]string
	missing  *Missing
	visited  map[string]bool // "<pkg>.<Type>.<Field>" of every key described
	reported map[string]bool // the same, once reported missing
}

// Build returns the schema. docs maps "<pkg>.<Type>.<Field>" to a
// description (nil: the generated fieldDocs).
func Build(docs map[string]string) (Object, Missing, map[string]bool) {
	if docs == nil {
		docs = fieldDocs
	}
	var missing Missing
	b := &builder{docs: docs, missing: &missing, visited: map[string]bool{}, reported: map[string]bool{}}
	root := b.object(reflect.TypeOf(config.Config{}), reflect.ValueOf(config.Defaults()), "", map[string]func() Object{
		"transforms": b.transforms,
		"sinks":      b.sinks,
		"cluster":    b.cluster,
	})
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = ID
	root["title"] = "sophos-connect configuration"
	root["description"] = "One YAML file: the Sophos Central credentials, the seed's keys, sources, transform stages and sinks. ${VAR} and ${VAR:-default} are expanded from the environment."
	sort.Strings(missing)
	return root, missing, b.visited
}

// JSON is the schema as indented JSON.
func JSON() ([]byte, error) {
	s, _, _ := Build(nil)
	b, err := json.MarshalIndent(s, "", "  ")
	return append(b, '\n'), err
}

func (b *builder) describe(t reflect.Type, f reflect.StructField, path string) string {
	key := t.PkgPath() + "." + t.Name() + "." + f.Name
	b.visited[key] = true
	d := b.docs[key]
	if d == "" {
		short := t.PkgPath()[strings.LastIndexByte(t.PkgPath(), '/')+1:]
		if !b.reported[key] {
			b.reported[key] = true
			*b.missing = append(*b.missing, short+"."+t.Name()+"."+f.Name+" (key "+path+")")
		}
	}
	return d
}

// fields lists a struct's YAML keys, flattening `,inline` members.
func fields(t reflect.Type, v reflect.Value, visit func(owner reflect.Type, f reflect.StructField, name string, fv reflect.Value)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		var fv reflect.Value
		if v.IsValid() {
			fv = v.Field(i)
		}
		if strings.Contains(opts, "inline") {
			ft, iv := f.Type, fv
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
				if iv.IsValid() {
					iv = iv.Elem()
				}
			}
			fields(ft, iv, visit)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		visit(t, f, name, fv)
	}
}

// object is the schema of a struct: its keys, nothing else.
func (b *builder) object(t reflect.Type, v reflect.Value, path string, special map[string]func() Object) Object {
	props := Object{}
	fields(t, v, func(owner reflect.Type, f reflect.StructField, name string, fv reflect.Value) {
		p := joinPath(path, name)
		var s Object
		if mk, ok := special[name]; ok {
			s = mk()
		} else {
			s = b.value(f.Type, fv, p, f.Tag.Get("enum"))
		}
		if d := b.describe(owner, f, p); d != "" {
			s["description"] = d
		}
		props[name] = s
		if f.Type == secretType {
			if !slices.Contains(config.SecretKeys, name) {
				*b.missing = append(*b.missing, p+" (a secret key missing from config.SecretKeys: its "+name+"_file sibling would not be read)")
			}
			props[name+"_file"] = Object{"type": "string",
				"description": "A file holding " + name + " instead (read at start and on reload; one trailing newline dropped), e.g. a Kubernetes or Docker secret, or $CREDENTIALS_DIRECTORY/… from systemd's LoadCredential=."}
		}
	})
	return Object{"type": "object", "properties": props, "additionalProperties": false}
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// value is the schema of one key's value of type t (v: its default).
func (b *builder) value(t reflect.Type, v reflect.Value, path, enum string) Object {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		if v.IsValid() {
			if v.IsNil() {
				v = reflect.Value{}
			} else {
				v = v.Elem()
			}
		}
	}
	var s Object
	switch {
	case t == durationType:
		s = Object{"type": []string{"string", "number"}, "pattern": durationPattern, "minimum": 0}
		if v.IsValid() && v.Int() != 0 {
			s["default"] = config.Duration(v.Int()).String()
		}
		return s
	case t == sizeType:
		s = Object{"type": []string{"string", "integer"}, "pattern": sizePattern, "minimum": 0}
		if v.IsValid() && v.Int() != 0 {
			s["default"] = v.Int()
		}
		return s
	case t == secretType:
		return Object{"type": "string", "writeOnly": true}
	case t == nodeType:
		return Object{}
	}
	if h, ok := reflect.New(t).Interface().(interface{ JSONSchema() map[string]any }); ok {
		return h.JSONSchema() // a type that decodes itself says what it takes
	}
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) {
		return Object{} // decodes itself from several shapes
	}
	switch t.Kind() {
	case reflect.String:
		s = Object{"type": "string"}
		if enum != "" {
			s["enum"] = strings.Split(enum, ",")
		}
		if v.IsValid() && v.String() != "" {
			s["default"] = v.String()
		}
	case reflect.Bool:
		s = orEnv(Object{"type": "boolean"})
		if v.IsValid() {
			s["default"] = v.Bool()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s = orEnv(Object{"type": "integer"})
		if v.IsValid() {
			if v.CanInt() {
				s["default"] = v.Int()
			} else {
				s["default"] = v.Uint()
			}
		}
	case reflect.Float32, reflect.Float64:
		s = orEnv(Object{"type": "number"})
		if v.IsValid() && v.Float() != 0 {
			s["default"] = v.Float()
		}
	case reflect.Slice, reflect.Array:
		items := b.value(t.Elem(), reflect.Value{}, path+"[]", enum)
		s = Object{"type": "array", "items": items}
		if v.IsValid() && v.Len() > 0 {
			s["default"] = v.Interface()
		}
	case reflect.Map:
		s = Object{"type": "object", "additionalProperties": b.value(t.Elem(), reflect.Value{}, path+".*", "")}
		if v.IsValid() && v.Len() > 0 {
			s["default"] = v.Interface()
		}
	case reflect.Struct:
		s = b.object(t, v, path, nil)
	case reflect.Interface:
		s = Object{}
	default:
		s = Object{}
	}
	return s
}

// orEnv accepts a whole-value ${VAR} where a number or boolean goes.
func orEnv(s Object) Object {
	return Object{"anyOf": []any{s, Object{"type": "string", "pattern": envPattern}}}
}

// commonProps are the keys every component of a list takes.
func (b *builder) commonProps(path string, keys []string) Object {
	props := Object{}
	t := componentTyp
	v := reflect.ValueOf(config.Component{})
	fields(t, v, func(owner reflect.Type, f reflect.StructField, name string, fv reflect.Value) {
		for _, k := range keys {
			if k == name {
				s := b.value(f.Type, fv, path+"."+name, f.Tag.Get("enum"))
				if d := b.describe(owner, f, path+"."+name); d != "" {
					s["description"] = d
				}
				props[name] = s
			}
		}
	})
	return props
}

// components is a list of typed entries: each `type` selects the keys.
func (b *builder) components(path string, common []string, types []string, docs []string, defaults []func() any) Object {
	var branches []any
	for i, typ := range types {
		p := path + "." + typ
		props := b.commonProps(path, common)
		props["type"] = Object{"const": typ, "description": docs[i]}
		if defaults[i] != nil {
			d := defaults[i]()
			own := b.object(reflect.TypeOf(d), reflect.ValueOf(d), p, nil)["properties"].(Object)
			for k, v := range own {
				props[k] = v
			}
		}
		branches = append(branches, Object{
			"if":   Object{"properties": Object{"type": Object{"const": typ}}, "required": []string{"type"}},
			"then": Object{"properties": props, "additionalProperties": false},
		})
	}
	return Object{"type": "array", "items": Object{
		"type":       "object",
		"required":   []string{"type"},
		"properties": Object{"type": Object{"enum": types, "description": typeList(path, types, docs)}},
		"allOf":      branches,
	}}
}

// typeList describes a components list's `type` key: every type with its
// one line, so an editor hovering over `type:` shows the choices.
func typeList(path string, types, docs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The %s type selects the other keys:", strings.TrimSuffix(path, "s"))
	for i, t := range types {
		fmt.Fprintf(&b, "\n- %s: %s", t, docs[i])
	}
	return b.String()
}

func (b *builder) sinks() Object {
	var types, docs []string
	var defs []func() any
	for _, f := range sinks.Table {
		types, docs, defs = append(types, f.Type), append(docs, f.Doc), append(defs, f.Defaults)
	}
	return b.components("sinks", config.CommonKeys, types, docs, defs)
}

// cluster is the distributed-mode block, decoded by package cluster.
func (b *builder) cluster() Object {
	d := cluster.Default()
	return b.object(reflect.TypeOf(d), reflect.ValueOf(d), "cluster", nil)
}

func (b *builder) transforms() Object {
	var types, docs []string
	var defs []func() any
	for _, f := range transforms.Table {
		types, docs, defs = append(types, f.Type), append(docs, f.Doc), append(defs, f.Defaults)
	}
	return b.components("transforms", config.TransformCommonKeys, types, docs, defs)
}
