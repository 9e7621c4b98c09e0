package collector

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/autoack"
)

// View is the resolved pipeline `validate` prints (and `validate -json` encodes).
type View struct {
	OK      bool                  `json:"ok"`
	File    string                `json:"file"`
	Secrets []config.SecretSource `json:"secrets"`
	Source  struct {
		APIHost  string   `json:"api_host"`
		AuthURL  string   `json:"auth_url"`
		Streams  []string `json:"streams"`
		Tenants  string   `json:"tenants"`
		PullTime string   `json:"pull_time"`
	} `json:"source"`
	AutoAcknowledge struct {
		Enabled    bool     `json:"enabled"`
		Level      string   `json:"level"`
		Severities []string `json:"severities"` // acknowledged when enabled
		Text       string   `json:"-"`
	} `json:"alerts_auto_acknowledge"`
	Stages []struct {
		Name    string `json:"name"`
		Streams string `json:"streams"`
		Desc    string `json:"description"`
	} `json:"stages"`
	Sinks []struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		Routes string `json:"routes"`
		Desc   string `json:"description"`
	} `json:"sinks"`
	Workers          string `json:"workers"` // a number or "auto"
	MaxInflightPages int    `json:"max_inflight_pages"`
	StateDir         string `json:"state_dir"`
	DeadLetters      string `json:"dead_letters"`
}

// Describe resolves c as a run of streams would assemble it (as).
func Describe(c *config.Config, streams []pipeline.Stream, as *Assembly) View {
	p := View{OK: true, Secrets: c.SecretSources}
	p.File = c.File
	p.Source.APIHost, p.Source.AuthURL = c.Sophos.APIHost, c.Sophos.AuthURL
	for _, s := range streams {
		p.Source.Streams = append(p.Source.Streams, s.Plural())
	}
	p.Source.Tenants = "every tenant the credentials reach"
	if len(c.Sophos.Tenants) > 0 {
		p.Source.Tenants = strings.Join(c.Sophos.Tenants, ", ")
	}
	p.Source.PullTime = c.PullTime.String()
	aa := &p.AutoAcknowledge
	aa.Enabled, aa.Level = c.AlertsAutoAcknowledgeStatus, strings.ToLower(c.AlertsAutoAcknowledgeLevel)
	aa.Severities = []string{}
	if lv, err := autoack.Levels(c.AlertsAutoAcknowledgeLevel); err == nil {
		for _, s := range []string{"low", "medium", "high"} {
			if lv[s] {
				aa.Severities = append(aa.Severities, s)
			}
		}
	}
	switch {
	case !aa.Enabled:
		aa.Text = fmt.Sprintf("off (alerts_auto_acknowledge_status: false; level %s would acknowledge %s)", aa.Level, strings.Join(aa.Severities, ", "))
	case !slices.Contains(streams, pipeline.Alerts):
		aa.Text = "off: the alerts stream is not pulled"
		aa.Enabled = false
	default:
		aa.Text = fmt.Sprintf("ON: every alert of severity %s is acknowledged in Sophos Central, for good, once every sink has it", strings.Join(aa.Severities, ", "))
	}
	for _, s := range as.Stages {
		p.Stages = append(p.Stages, struct {
			Name    string `json:"name"`
			Streams string `json:"streams"`
			Desc    string `json:"description"`
		}{s.Name, streamList(s.Streams), s.Desc})
	}
	for _, s := range as.Sinks {
		p.Sinks = append(p.Sinks, struct {
			Name   string `json:"name"`
			Type   string `json:"type"`
			Routes string `json:"routes"`
			Desc   string `json:"description"`
		}{s.Name, s.Type, s.Routes.String(), s.Desc})
	}
	wk, inflight := PullWorkers(c)
	p.Workers = c.Workers.String()
	if inflight == 0 && !c.Workers.Auto() {
		inflight = 4 * wk
	}
	p.MaxInflightPages = inflight
	p.StateDir = c.StateDir
	p.DeadLetters = strings.TrimRight(c.StateDir, "/") + "/dead-letter.ndjson"
	return p
}

func streamList(s []pipeline.Stream) string {
	if len(s) == 0 {
		return "streams: all"
	}
	var n []string
	for _, x := range s {
		n = append(n, x.Plural())
	}
	return "streams: " + strings.Join(n, ",")
}
