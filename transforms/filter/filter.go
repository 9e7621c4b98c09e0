// Package filter is the transform stage that keeps or drops records: by
// type (exact, prefix ending in ::, or glob), severity threshold, tenant,
// group, one field test, the official script's light list, and free
// conditions (`when` keeps matching records, `drop_when` drops them). All
// keys given are combined with AND into one condition evaluated per record.
package filter

import (
	"fmt"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/internal/lightevents"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/transforms/condition"
)

// LightTypes are the nine noisy event types the official script excludes
// with -l/--light (reference §4.3), in its order: internal/lightevents, the
// list the source sends as exclude_types, so a light filter and a light
// source agree.
var LightTypes = lightevents.Types

// Config is the filter stage's own keys.
type Config struct {
	// When keeps only records matching this condition.
	When string `yaml:"when"`
	// DropWhen drops records matching this condition.
	DropWhen string `yaml:"drop_when"`
	// Types keeps only these types: exact names, prefixes ending in ::
	// (Event::Endpoint::Threat::) or globs (Event::*::Detected).
	Types []string `yaml:"types"`
	// ExcludeTypes drops these types (same forms as Types).
	ExcludeTypes []string `yaml:"exclude_types"`
	// MinSeverity keeps records at or above low, medium or high.
	MinSeverity string `yaml:"min_severity"`
	// Tenants keeps only these tenant ids.
	Tenants []string `yaml:"tenants"`
	// Groups keeps only these event groups (MALWARE, PUA, ...).
	Groups []string `yaml:"groups"`
	// Field keeps records whose field passes one test.
	Field *FieldMatch `yaml:"field"`
	// Light drops the official script's nine noisy types (LightTypes),
	// client side: for alerts too, and where the server-side exclusion is
	// not used.
	Light bool `yaml:"light"`
}

// FieldMatch tests one field: a typed field name or raw.<dotted.path>, with
// exactly one of equals, matches (glob) or regex.
type FieldMatch struct {
	// Path is a typed field (type, severity, tenant, …) or raw.<dotted.path> into the API item.
	Path string `yaml:"path"`
	// Equals keeps records whose field is exactly this value.
	Equals *string `yaml:"equals"`
	// Matches keeps records whose field matches this glob (* and ?).
	Matches string `yaml:"matches"`
	// Regex keeps records whose field matches this regular expression (Go RE2 syntax).
	Regex string `yaml:"regex"`
}

// DefaultConfig keeps everything.
func DefaultConfig() Config { return Config{} }

// Validate checks every key and reports all problems together.
func (c *Config) Validate() error {
	_, err := c.compile()
	return err
}

func fieldErr(key, format string, args ...any) error {
	return &config.FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// compile turns the keys into one keep-condition (nil keeps everything).
func (c *Config) compile() (*condition.Condition, error) {
	var errs config.Errors
	var parts []*condition.Condition
	parse := func(key, expr string) *condition.Condition {
		cond, err := condition.Parse(expr)
		if err != nil {
			errs = append(errs, fieldErr(key, "%v in %q", err, expr))
			return nil
		}
		return cond
	}

	if c.Types != nil {
		if t := typesCondition("types", c.Types, &errs); t != nil {
			parts = append(parts, t)
		} else if len(c.Types) == 0 {
			errs = append(errs, fieldErr("types", "empty list would drop every record: remove the key or list types"))
		}
	}
	if t := typesCondition("exclude_types", c.ExcludeTypes, &errs); t != nil {
		parts = append(parts, condition.Not(t))
	}
	if c.MinSeverity != "" {
		s := strings.ToLower(strings.TrimSpace(c.MinSeverity))
		if condition.SeverityRank(s) == 0 {
			errs = append(errs, fieldErr("min_severity", "%q is not a severity: use low, medium or high", c.MinSeverity))
		} else {
			parts = append(parts, parse("min_severity", "severity >= "+s))
		}
	}
	if t := inCondition("tenants", "tenant", c.Tenants, &errs); t != "" {
		parts = append(parts, parse("tenants", t))
	}
	if t := inCondition("groups", "group", c.Groups, &errs); t != "" {
		parts = append(parts, parse("groups", t))
	}
	if c.Field != nil {
		if t := c.Field.expr(&errs); t != "" {
			parts = append(parts, parse("field", t))
		}
	}
	if c.Light {
		parts = append(parts, condition.Not(parse("light", "type in ("+quoteAll(LightTypes)+")")))
	}
	if strings.TrimSpace(c.When) != "" {
		parts = append(parts, parse("when", c.When))
	}
	if strings.TrimSpace(c.DropWhen) != "" {
		parts = append(parts, condition.Not(parse("drop_when", c.DropWhen)))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return condition.And(parts...), nil
}

// typesCondition ORs the type forms: exact names (one in-list), prefixes
// ending in ::, and globs.
func typesCondition(key string, types []string, errs *config.Errors) *condition.Condition {
	var exact, alts []string
	for i, t := range types {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			*errs = append(*errs, fieldErr(fmt.Sprintf("%s[%d]", key, i), "empty type"))
		case strings.ContainsAny(t, "*?"):
			alts = append(alts, "type matches "+condition.Quote(t))
		case strings.HasSuffix(t, "::"):
			alts = append(alts, "type startswith "+condition.Quote(t))
		default:
			exact = append(exact, t)
		}
	}
	if len(exact) > 0 {
		alts = append([]string{"type in (" + quoteAll(exact) + ")"}, alts...)
	}
	if len(alts) == 0 {
		return nil
	}
	cond, err := condition.Parse(strings.Join(alts, " or "))
	if err != nil {
		*errs = append(*errs, fieldErr(key, "%v", err))
		return nil
	}
	return cond
}

func inCondition(key, field string, vals []string, errs *config.Errors) string {
	if vals == nil {
		return ""
	}
	if len(vals) == 0 {
		*errs = append(*errs, fieldErr(key, "empty list would drop every record: remove the key or list values"))
		return ""
	}
	for i, v := range vals {
		if strings.TrimSpace(v) == "" {
			*errs = append(*errs, fieldErr(fmt.Sprintf("%s[%d]", key, i), "empty value"))
		}
	}
	return field + " in (" + quoteAll(vals) + ")"
}

func quoteAll(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = condition.Quote(strings.TrimSpace(v))
	}
	return strings.Join(q, ", ")
}

func (f *FieldMatch) expr(errs *config.Errors) string {
	path := strings.TrimSpace(f.Path)
	if path == "" {
		*errs = append(*errs, fieldErr("field.path", "required: a field such as host or raw.source_info.ip"))
		return ""
	}
	if strings.ContainsAny(path, " \t()\",'=!<>~&|") {
		*errs = append(*errs, fieldErr("field.path", "%q is not a field path: use a field name or raw.key.subkey", path))
		return ""
	}
	n := 0
	var e string
	if f.Equals != nil {
		n++
		e = path + " == " + condition.Quote(*f.Equals)
	}
	if f.Matches != "" {
		n++
		e = path + " matches " + condition.Quote(f.Matches)
	}
	if f.Regex != "" {
		n++
		e = path + " =~ " + condition.Quote(f.Regex)
	}
	if n != 1 {
		*errs = append(*errs, fieldErr("field", "give exactly one of equals, matches (glob) or regex"))
		return ""
	}
	return e
}

// Filter is the stage. It is safe for concurrent use.
type Filter struct {
	cfg  Config
	keep *condition.Condition
}

// New compiles c.
func New(c Config) (*Filter, error) {
	keep, err := c.compile()
	if err != nil {
		return nil, err
	}
	return &Filter{cfg: c, keep: keep}, nil
}

// Process keeps r when it satisfies every configured key.
func (f *Filter) Process(r *pipeline.Record, out []*pipeline.Record) ([]*pipeline.Record, error) {
	if f.keep.Match(r) {
		out = append(out, r)
	}
	return out, nil
}

// Condition returns the combined keep-condition (nil keeps everything).
func (f *Filter) Condition() *condition.Condition { return f.keep }

// String describes the stage for `validate`, e.g.
// filter(min_severity=medium, light).
func (f *Filter) String() string {
	c := f.cfg
	var parts []string
	list := func(k string, v []string) {
		if v != nil {
			parts = append(parts, k+"=["+strings.Join(v, ", ")+"]")
		}
	}
	list("types", c.Types)
	list("exclude_types", c.ExcludeTypes)
	if c.MinSeverity != "" {
		parts = append(parts, "min_severity="+strings.ToLower(strings.TrimSpace(c.MinSeverity)))
	}
	list("tenants", c.Tenants)
	list("groups", c.Groups)
	if c.Field != nil {
		var errs config.Errors
		parts = append(parts, "field: "+c.Field.expr(&errs))
	}
	if c.Light {
		parts = append(parts, "light")
	}
	if c.When != "" {
		parts = append(parts, "when: "+condition.MustParse(c.When).String())
	}
	if c.DropWhen != "" {
		parts = append(parts, "drop_when: "+condition.MustParse(c.DropWhen).String())
	}
	if len(parts) == 0 {
		return "filter(keep all)"
	}
	return "filter(" + strings.Join(parts, ", ") + ")"
}
