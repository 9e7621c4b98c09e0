package encoding

// An OCSF schema reader and validator, written from the schema repository's
// own rules (ocsf/ocsf-schema, README and metaschema), independent of the
// encoder: it loads class, object, profile and dictionary files, resolves
// extends chains, $include'd profiles and dictionary types, and checks a
// record against the resolved class.
//
// testdata/ocsf/<OCSFVersion> holds the files of the pinned release that
// the records need, cut to what validation reads (no descriptions); run
//
//	go test ./sinks/encoding -run TestOCSFTrimSchema -ocsf-schema=/path/to/ocsf-schema
//
// with a checkout of the release tag to write them again.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type jmap = map[string]any

// ocsfSchema is a loaded schema directory (the release or the testdata cut).
type ocsfSchema struct {
	dir        string
	version    string
	dict       jmap // dictionary attributes
	types      jmap // dictionary types
	categories jmap
	classes    map[string]jmap // by name
	objects    map[string]jmap
	files      map[string]jmap // by path relative to dir ($include targets)
	byUID      map[int64]string
	pathOf     map[string]string // "classes:name" / "objects:name" -> file

	resolved map[string]*ocsfResolved // "class:name" / "object:name"
	// used records what validation touched, for the trim.
	used map[string]bool
}

// ocsfResolved is a class or object with its extends chain, $includes and
// dictionary entries merged: every attribute it may carry.
type ocsfResolved struct {
	name        string
	caption     string
	uid         int64 // classes: class_uid
	categoryUID int64
	category    string
	attrs       map[string]jmap
	profiles    map[string]bool // profiles the class declares (classes)
	constraints jmap
	chain       []string // files merged, for the trim
}

func loadOCSFSchema(dir string) (*ocsfSchema, error) {
	s := &ocsfSchema{dir: dir, classes: map[string]jmap{}, objects: map[string]jmap{}, files: map[string]jmap{},
		byUID: map[int64]string{}, pathOf: map[string]string{}, resolved: map[string]*ocsfResolved{}, used: map[string]bool{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "extensions" || rel == "metaschema" || strings.HasPrefix(rel, ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".json") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var m jmap
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		s.files[rel] = m
		name, _ := m["name"].(string)
		switch {
		case rel == "dictionary.json":
			s.dict, _ = m["attributes"].(jmap)
			if t, ok := m["types"].(jmap); ok {
				s.types, _ = t["attributes"].(jmap)
			}
		case rel == "categories.json":
			s.categories, _ = m["attributes"].(jmap)
		case rel == "version.json":
			s.version, _ = m["version"].(string)
		case strings.HasPrefix(rel, "events/"):
			s.classes[name] = m
			s.pathOf["classes:"+name] = rel
		case strings.HasPrefix(rel, "objects/"):
			s.objects[name] = m
			s.pathOf["objects:"+name] = rel
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.dict == nil || s.types == nil || s.categories == nil {
		return nil, fmt.Errorf("%s: no dictionary.json or categories.json: not an OCSF schema directory", dir)
	}
	for name := range s.classes {
		r, err := s.resolve("class", name)
		if err != nil {
			return nil, err
		}
		if r.uid >= 0 {
			s.byUID[r.uid] = name
		}
	}
	return s, nil
}

// deepMerge returns base with over merged on top: maps merge key by key
// (enums thus add values), anything else in over replaces.
func deepMerge(base, over jmap) jmap {
	out := jmap{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(jmap); ok {
			if om, ok := v.(jmap); ok {
				out[k] = deepMerge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// fileAttrs returns a file's attributes with its $include'd files merged
// under them; attributes that come from a profile file carry
// "profile": <profile name> unless the including file says otherwise.
func (s *ocsfSchema) fileAttrs(m jmap, chain *[]string) (map[string]jmap, error) {
	out := map[string]jmap{}
	attrs, _ := m["attributes"].(jmap)
	if inc, ok := attrs["$include"].([]any); ok {
		for _, p := range inc {
			path, _ := p.(string)
			f, ok := s.files[path]
			if !ok {
				return nil, fmt.Errorf("$include %s: file not in %s", path, s.dir)
			}
			*chain = append(*chain, path)
			sub, err := s.fileAttrs(f, chain)
			if err != nil {
				return nil, err
			}
			profile := ""
			if strings.HasPrefix(path, "profiles/") {
				profile, _ = f["name"].(string)
			}
			for k, v := range sub {
				if profile != "" {
					if _, set := v["profile"]; !set {
						v = deepMerge(v, jmap{"profile": profile})
					}
				}
				out[k] = deepMerge(out[k], v)
			}
		}
	}
	for k, v := range attrs {
		if k == "$include" {
			continue
		}
		vm, _ := v.(jmap)
		out[k] = deepMerge(out[k], vm)
	}
	return out, nil
}

// resolve merges a class or object with its extends chain and the
// dictionary.
func (s *ocsfSchema) resolve(kind, name string) (*ocsfResolved, error) {
	key := kind + ":" + name
	if r, ok := s.resolved[key]; ok {
		return r, nil
	}
	files := s.classes
	if kind == "object" {
		files = s.objects
	}
	m, ok := files[name]
	if !ok {
		return nil, fmt.Errorf("%s %q is not in %s", kind, name, s.dir)
	}
	r := &ocsfResolved{name: name, attrs: map[string]jmap{}, profiles: map[string]bool{}, uid: -1}
	if kind == "class" {
		r.chain = append(r.chain, "classes:"+name)
	} else {
		r.chain = append(r.chain, "objects:"+name)
	}
	var parent *ocsfResolved
	if ext, _ := m["extends"].(string); ext != "" {
		var err error
		if parent, err = s.resolve(kind, ext); err != nil {
			return nil, fmt.Errorf("%s %s extends: %w", kind, name, err)
		}
		for k, v := range parent.attrs {
			r.attrs[k] = v
		}
		for p := range parent.profiles {
			r.profiles[p] = true
		}
		r.chain = append(r.chain, parent.chain...)
		r.constraints = parent.constraints
	}
	own, err := s.fileAttrs(m, &r.chain)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	for k, v := range own {
		r.attrs[k] = deepMerge(r.attrs[k], v)
	}
	for _, p := range asList(m["profiles"]) {
		r.profiles[p.(string)] = true
	}
	if c, ok := m["constraints"].(jmap); ok && len(c) > 0 {
		r.constraints = c
	}
	r.caption, _ = m["caption"].(string)
	// Dictionary entries lie under everything the files say.
	for k, v := range r.attrs {
		d, ok := s.dict[k].(jmap)
		if !ok {
			return nil, fmt.Errorf("%s %s: attribute %s is not in the dictionary", kind, name, k)
		}
		r.attrs[k] = deepMerge(d, v)
	}
	if kind == "class" {
		cat, _ := m["category"].(string)
		if cat == "" && parent != nil {
			cat = parent.category
		}
		r.category = cat
		if cat != "" && cat != "other" {
			c, ok := s.categories[cat].(jmap)
			if !ok {
				return nil, fmt.Errorf("class %s: category %q not in categories.json", name, cat)
			}
			r.categoryUID = toInt(c["uid"])
		}
		if uid, ok := m["uid"]; ok {
			r.uid = r.categoryUID*1000 + toInt(uid)
		} else if name == "base_event" {
			r.uid = 0
		}
	}
	s.resolved[key] = r
	return r, nil
}

func asList(v any) []any { l, _ := v.([]any); return l }

func toInt(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// ocsfCheck collects the violations of one record.
type ocsfCheck struct {
	s        *ocsfSchema
	profiles map[string]bool // metadata.profiles of the record
	classP   map[string]bool // profiles the class declares
	errs     []string
}

func (c *ocsfCheck) fail(path, f string, a ...any) {
	c.errs = append(c.errs, path+": "+fmt.Sprintf(f, a...))
}

// validate checks one encoded record (JSON text) against the schema and
// returns every violation.
func (s *ocsfSchema) validate(rec []byte) []string {
	dec := json.NewDecoder(strings.NewReader(string(rec)))
	dec.UseNumber()
	var v jmap
	if err := dec.Decode(&v); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	c := &ocsfCheck{s: s, profiles: map[string]bool{}}
	uid, ok := v["class_uid"].(json.Number)
	if !ok {
		return []string{"class_uid missing or not a number"}
	}
	classUID, _ := uid.Int64()
	name, ok := s.byUID[classUID]
	if !ok {
		return []string{fmt.Sprintf("class_uid %d is no class of %s", classUID, s.dir)}
	}
	cls, _ := s.resolve("class", name)
	s.markUsed(cls)
	c.classP = cls.profiles
	if md, ok := v["metadata"].(jmap); ok {
		for _, p := range asList(md["profiles"]) {
			ps, _ := p.(string)
			c.profiles[ps] = true
			if !cls.profiles[ps] {
				c.fail("metadata.profiles", "profile %q is not one class %s supports", ps, name)
			}
		}
		if md["version"] != s.version {
			c.fail("metadata.version", "%v, the schema is %s", md["version"], s.version)
		}
	}
	c.object("", v, classWithUIDs(s, cls))
	// The classification numbers.
	if got := toInt(v["category_uid"]); got != cls.categoryUID {
		c.fail("category_uid", "%d, class %s is in category %d", got, name, cls.categoryUID)
	}
	if act, ok := v["activity_id"].(json.Number); ok {
		a, _ := act.Int64()
		if got := toInt(v["type_uid"]); got != classUID*100+a {
			c.fail("type_uid", "%d, want class_uid*100+activity_id = %d", got, classUID*100+a)
		}
	}
	if cn, ok := v["class_name"].(string); ok && cn != cls.caption {
		c.fail("class_name", "%q, the class caption is %q", cn, cls.caption)
	}
	return c.errs
}

// classWithUIDs gives the class the enums the schema's compiler
// generates for it: class_uid {uid: caption}, category_uid {uid: category
// caption}, type_uid {class_uid*100+activity: "Class: Activity"} (Other
// activities leave type_name to the source).
func classWithUIDs(s *ocsfSchema, cls *ocsfResolved) *ocsfResolved {
	out := *cls
	out.attrs = map[string]jmap{}
	for k, v := range cls.attrs {
		out.attrs[k] = v
	}
	uid := strconv.FormatInt(cls.uid, 10)
	out.attrs["class_uid"] = deepMerge(cls.attrs["class_uid"], jmap{"enum": jmap{uid: jmap{"caption": cls.caption}}})
	out.attrs["class_uid"]["enum"] = jmap{uid: jmap{"caption": cls.caption}}
	catCaption := "Uncategorized"
	if c, ok := s.categories[cls.category].(jmap); ok {
		catCaption, _ = c["caption"].(string)
	}
	out.attrs["category_uid"] = deepMerge(cls.attrs["category_uid"], nil)
	out.attrs["category_uid"]["enum"] = jmap{strconv.FormatInt(cls.categoryUID, 10): jmap{"caption": catCaption}}
	types := jmap{}
	acts, _ := cls.attrs["activity_id"]["enum"].(jmap)
	for k, v := range acts {
		a, _ := strconv.ParseInt(k, 10, 64)
		caption, _ := v.(jmap)["caption"].(string)
		types[strconv.FormatInt(cls.uid*100+a, 10)] = jmap{"caption": cls.caption + ": " + caption, "other": k == "99"}
	}
	out.attrs["type_uid"] = deepMerge(cls.attrs["type_uid"], nil)
	out.attrs["type_uid"]["enum"] = types
	return &out
}

// markUsed records the files a resolved class or object was built from.
func (s *ocsfSchema) markUsed(r *ocsfResolved) {
	for _, f := range r.chain {
		s.used[f] = true
	}
}

func (c *ocsfCheck) object(path string, v jmap, r *ocsfResolved) {
	at := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	for k, a := range r.attrs {
		// A profile's attributes are part of the class only where the
		// record applies the profile.
		if p, ok := a["profile"].(string); ok && p != "" && !c.profiles[p] {
			continue
		}
		if a["requirement"] == "required" {
			if val, ok := v[k]; !ok || val == nil {
				c.fail(at(k), "required by %s, missing", r.name)
			}
		}
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a, ok := r.attrs[k]
		if !ok {
			c.fail(at(k), "%s defines no such attribute (put it in unmapped)", r.name)
			continue
		}
		if p, ok := a["profile"].(string); ok && p != "" && !c.profiles[p] {
			c.fail(at(k), "belongs to profile %q, which metadata.profiles does not list", p)
		}
		c.attr(at(k), v[k], a, v)
	}
	if r.constraints != nil {
		for kind, l := range r.constraints {
			n := 0
			for _, k := range asList(l) {
				if v[k.(string)] != nil {
					n++
				}
			}
			switch {
			case kind == "at_least_one" && n == 0:
				c.fail(path, "%s needs at least one of %v", r.name, l)
			case kind == "just_one" && n != 1:
				c.fail(path, "%s needs exactly one of %v, has %d", r.name, l, n)
			}
		}
	}
}

func (c *ocsfCheck) attr(path string, val any, a jmap, parent jmap) {
	if a["is_array"] == true {
		l, ok := val.([]any)
		if !ok {
			c.fail(path, "is an array attribute, got %T", val)
			return
		}
		for i, e := range l {
			c.value(fmt.Sprintf("%s[%d]", path, i), e, a, parent)
		}
		return
	}
	c.value(path, val, a, parent)
}

func (c *ocsfCheck) value(path string, val any, a jmap, parent jmap) {
	typ, _ := a["type"].(string)
	if typ == "object" { // the generic object: unmapped and the like
		if _, ok := val.(jmap); !ok {
			c.fail(path, "must be an object, got %T", val)
		}
		c.s.used["objects:object"] = true
		return
	}
	if _, scalar := c.s.types[typ]; !scalar {
		obj, ok := val.(jmap)
		if !ok {
			c.fail(path, "must be a %s object, got %T", typ, val)
			return
		}
		r, err := c.s.resolve("object", typ)
		if err != nil {
			c.fail(path, "%v (regenerate testdata/ocsf with TestOCSFTrimSchema)", err)
			return
		}
		c.s.markUsed(r)
		c.object(path, obj, r)
		return
	}
	c.scalar(path, val, typ)
	if en, ok := a["enum"].(jmap); ok {
		key := fmt.Sprint(val)
		e, ok := en[key].(jmap)
		if !ok {
			c.fail(path, "%s is not a value of its enum %v", key, enumKeys(en))
			return
		}
		// The sibling string is the enum caption, or the source's own
		// word for Other (99).
		if sib, _ := a["sibling"].(string); sib != "" && key != "99" && e["other"] != true {
			if got, ok := parent[sib]; ok && got != e["caption"] {
				c.fail(path, "sibling %s is %q, the caption of %s is %q", sib, got, key, e["caption"])
			}
		}
	}
}

func enumKeys(en jmap) []string {
	var out []string
	for k := range en {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// scalar checks a value against a dictionary type and the types it is
// based on (regex, max_len, range, values).
func (c *ocsfCheck) scalar(path string, val any, typ string) {
	for t := typ; t != ""; {
		def, ok := c.s.types[t].(jmap)
		if !ok {
			c.fail(path, "type %s not in the dictionary", t)
			return
		}
		switch t {
		case "string_t":
			if _, ok := val.(string); !ok {
				c.fail(path, "%s must be a string, got %T", typ, val)
			}
		case "integer_t", "long_t":
			n, ok := val.(json.Number)
			i, err := n.Int64()
			if !ok || err != nil {
				c.fail(path, "%s must be an integer, got %v", typ, val)
			} else if t == "integer_t" && (i < math.MinInt32 || i > math.MaxInt32) {
				c.fail(path, "%d does not fit integer_t (32 bits)", i)
			}
		case "float_t":
			if _, ok := val.(json.Number); !ok {
				c.fail(path, "%s must be a number, got %T", typ, val)
			}
		case "boolean_t":
			if _, ok := val.(bool); !ok {
				c.fail(path, "%s must be true or false, got %v", typ, val)
			}
		}
		if re, ok := def["regex"].(string); ok {
			if s, ok := val.(string); ok && !regexp.MustCompile(re).MatchString(s) {
				c.fail(path, "%q does not match %s's pattern", s, t)
			}
		}
		if ml, ok := def["max_len"]; ok {
			if s, ok := val.(string); ok && int64(len(s)) > toInt(ml) {
				c.fail(path, "%q is longer than %s's %d", s, t, toInt(ml))
			}
		}
		if rg := asList(def["range"]); len(rg) == 2 {
			if n, ok := val.(json.Number); ok {
				i, _ := n.Int64()
				if i < toInt(rg[0]) || i > toInt(rg[1]) {
					c.fail(path, "%d is outside %s's range %v", i, t, rg)
				}
			}
		}
		t, _ = def["type"].(string)
	}
}
