package seed

import (
	"path/filepath"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Sinks turns the seed's file keys (txt_file_creation, json_file_creation,
// the *_file_name keys, save_file_location) into txt/json sink components,
// named seed-<stream>-<kind>.
func Sinks(c *config.Config, streams []pipeline.Stream) []config.Component {
	var out []config.Component
	dir := c.SaveFileLocation
	join := func(name string) string {
		if filepath.IsAbs(name) {
			return name
		}
		return filepath.Join(dir, name)
	}
	rot := map[string]any{"max_bytes": int64(c.Rotate.MaxBytes), "max_age": c.Rotate.MaxAge.String(), "keep": c.Rotate.Keep}
	for _, st := range streams {
		txtName, jsonName := c.EventsTxtFileName, c.EventsJSONFileName
		switch st {
		case pipeline.Alerts:
			txtName, jsonName = c.AlertsTxtFileName, c.AlertsJSONFileName
		case pipeline.Detections:
			txtName, jsonName = c.DetectionsTxtFileName, c.DetectionsJSONFileName
		case pipeline.Cases:
			txtName, jsonName = c.CasesTxtFileName, c.CasesJSONFileName
		}
		if c.TxtFileCreation {
			out = append(out, config.Component{
				Name: "seed-" + st.Plural() + "-txt", Type: "txt", Streams: []string{st.Plural()}, Seed: true,
				Fields: map[string]any{"path": join(txtName), "format": "txt", "rotate": rot, "file_mode": c.FileMode.OrDefault()},
			})
		}
		if c.JSONFileCreation {
			out = append(out, config.Component{
				Name: "seed-" + st.Plural() + "-json", Type: "json", Streams: []string{st.Plural()}, Seed: true,
				// python-json: the bytes the seed's json.dump wrote.
				Fields: map[string]any{"path": join(jsonName), "layout": "array", "rotate": rot, "file_mode": c.FileMode.OrDefault(), "format": "python-json"},
			})
		}
	}
	return out
}

// Key is the seed's config key that declared one of its sink components
// (txt_file_creation or json_file_creation).
func Key(c config.Component) string {
	if strings.HasSuffix(c.Name, "-json") {
		return "json_file_creation"
	}
	return "txt_file_creation"
}

// LogFilePath puts the seed's log file beside its data files (a deployed
// config directory is often read-only); `migrate` writes an absolute
// log_file_name when that is not where the seed kept it.
func LogFilePath(c *config.Config) string {
	if c.LogFileName == "" {
		return ""
	}
	if filepath.IsAbs(c.LogFileName) {
		return c.LogFileName
	}
	return filepath.Join(c.SaveFileLocation, c.LogFileName)
}
