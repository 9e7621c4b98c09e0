package emulator

import (
	"fmt"
	"strings"
	"time"
)

// endpoint is one managed device of a tenant. Events and alerts reference
// these devices (ids, hostnames, addresses, users), so the SIEM data and the
// Endpoint API agree. Mutable fields are guarded by the tenant's mutex.
type endpoint struct {
	id       string
	hi, lo   uint64
	kind     string // computer | server
	hostname string
	platform string // windows | macOS | linux
	osName   string
	major    int
	minor    int
	build    int
	ipv4     string
	ipv6     string
	mac      string
	group    string
	groupID  string

	personName string // display name ("" for service accounts)
	personID   string
	viaLogin   string // DOMAIN\login or login
	login      string // bare login used in paths
	source     string // the "source" of its events
	userID     string // 24-hex ObjectId of the user
	hostJ      string // hostname, JSON-escaped
	sourceJ    string // source, JSON-escaped

	health     string
	threats    string
	services   string
	svcDetails []serviceDetail
	products   []product

	tamperSupported bool
	tamperEnabled   bool
	tamperPassword  string
	prevPasswords   []previousPassword

	lastSeenMs        int64
	lastOsUpdateMs    int64
	lastAgentUpdateMs int64
	serial            string
	volumes           []volume
	encryption        string
	online            bool
	cloned            bool
	lockdown          *lockdown
	cloud             *cloud

	isolated      bool
	adminIsolated bool
	selfIsolated  bool
	iso           isolationSettings
	pendingUntil  time.Time // isolation toggle in progress until then
	pendingTarget bool
}

type serviceDetail struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

type product struct {
	Code    string `json:"code"`
	Version string `json:"version"`
	Status  string `json:"status"`
}

type volume struct {
	VolumeID string `json:"volumeId"`
	Status   string `json:"status"`
}

type lockdown struct {
	Status       string `json:"status"`
	UpdateStatus string `json:"updateStatus"`
}

type cloud struct {
	Provider   string `json:"provider"`
	InstanceID string `json:"instanceId"`
}

type previousPassword struct {
	Password      string `json:"password"`
	InvalidatedAt string `json:"invalidatedAt"`
}

type actor struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Name        string `json:"name"`
	AccountType string `json:"accountType"`
	AccountID   string `json:"accountId"`
}

// isolationSettings is the settings object of §6.3.
type isolationSettings struct {
	Enabled        bool   `json:"enabled"`
	LastEnabledAt  string `json:"lastEnabledAt,omitempty"`
	LastEnabledBy  *actor `json:"lastEnabledBy,omitempty"`
	LastDisabledAt string `json:"lastDisabledAt,omitempty"`
	LastDisabledBy *actor `json:"lastDisabledBy,omitempty"`
	Comment        string `json:"comment,omitempty"`
}

// hostArchetype describes one of the dozen devices every tenant has.
type hostArchetype struct {
	name     string // fmt pattern; %d is a number, %s a person's first name or login
	kind     string
	platform string
	osName   string
	major    int
	minor    int
	build    int
	group    string
	person   bool // has an associated person
	svc      string
}

var archetypes = []hostArchetype{
	{"WKS-FIN-%04d", "computer", "windows", "Windows 11 Pro", 10, 0, 22631, "Finance", true, ""},
	{"SRV-SQL-%02d", "server", "windows", "Windows Server 2019 Standard", 10, 0, 17763, "Database Servers", false, "svc_sql"},
	{"MBP-%s", "computer", "macOS", "macOS Sonoma", 14, 4, 0, "Engineering", true, ""},
	{"%s's MacBook Air", "computer", "macOS", "macOS Ventura", 13, 6, 0, "Marketing", true, ""},
	{"WKS_HR_%03d", "computer", "windows", "Windows 10 Enterprise", 10, 0, 19045, "Human Resources", true, ""},
	{"Reception PC %d", "computer", "windows", "Windows 11 Pro", 10, 0, 22621, "Front Desk", true, ""},
	{"SRV-DC-%02d", "server", "windows", "Windows Server 2022 Datacenter", 10, 0, 20348, "Domain Controllers", false, "svc_backup"},
	{"web_prod_%02d", "server", "linux", "Ubuntu 22.04.4 LTS", 22, 4, 0, "Web Servers", false, "www-data"},
	{"PC-MÜNCHEN-%02d", "computer", "windows", "Windows 11 Enterprise", 10, 0, 22631, "Vertrieb DACH", true, ""},
	{"LT-SALES-%03d", "computer", "windows", "Windows 11 Pro", 10, 0, 22631, "Sales", true, ""},
	{"SRV-FILE-%02d", "server", "windows", "Windows Server 2016 Standard", 10, 0, 14393, "File Servers", false, "svc_fs"},
	{"build-agent-%02d", "server", "linux", "Amazon Linux 2023", 6, 1, 0, "CI Runners", false, "ec2-user"},
}

// newEndpoints builds a tenant's devices deterministically.
func newEndpoints(t *tenant, startMs int64) []*endpoint {
	r := newRnd(hash4(t.key, 0xE9D, 0, 0))
	eps := make([]*endpoint, 0, len(archetypes))
	pOff := r.intn(len(people))
	for i, a := range archetypes {
		e := &endpoint{kind: a.kind, platform: a.platform, osName: a.osName, major: a.major, minor: a.minor, build: a.build, group: a.group}
		e.hi, e.lo = uuidOf(hash4(t.key, 0xE9D, uint64(i), 1))
		e.id = uuidString(e.hi, e.lo)
		gh, gl := uuidOf(hash4(t.key, 0x6A0, uint64(i%9), 0))
		e.groupID = uuidString(gh, gl)
		p := people[(pOff+i)%len(people)]
		switch {
		case strings.Contains(a.name, "%s's"):
			e.hostname = fmt.Sprintf(a.name, p.first)
		case strings.Contains(a.name, "%s"):
			e.hostname = fmt.Sprintf(a.name, strings.ToUpper(p.login))
		default:
			e.hostname = fmt.Sprintf(a.name, r.between(1, 240))
		}
		if a.person {
			e.personName = p.first + " " + p.last
			ph, pl := uuidOf(hash4(t.key, 0x9E5, uint64((pOff+i)%len(people)), 0))
			e.personID = uuidString(ph, pl)
			e.login = p.login
			if a.platform == "windows" {
				e.viaLogin = t.domain + `\` + p.login
				e.source = e.viaLogin
			} else {
				e.viaLogin = p.login
				e.source = e.personName
			}
		} else {
			e.login = a.svc
			if a.platform == "windows" {
				e.viaLogin = t.domain + `\` + a.svc
			} else {
				e.viaLogin = a.svc
			}
			e.source = e.viaLogin
		}
		e.userID = string(appendHexKey(nil, hash4(t.key, 0x05E, uint64(i), 0), 24))
		switch a.platform {
		case "windows":
			if a.kind == "server" {
				e.ipv4 = fmt.Sprintf("10.%d.9.%d", 20+t.idx%200, 10+i)
			} else {
				e.ipv4 = fmt.Sprintf("10.%d.4.%d", 20+t.idx%200, 100+r.intn(150))
			}
		case "macOS":
			e.ipv4 = fmt.Sprintf("192.168.1.%d", 20+r.intn(200))
		default:
			e.ipv4 = fmt.Sprintf("172.31.%d.%d", r.intn(64), 2+r.intn(250))
		}
		if r.chance(0.6) {
			e.ipv6 = fmt.Sprintf("fe80::%x:%x:%x:%x", r.intn(0x10000), r.intn(0x10000), r.intn(0x10000), r.intn(0x10000))
		}
		e.mac = fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", r.intn(256)&0xFC, r.intn(256), r.intn(256), r.intn(256), r.intn(256), r.intn(256))
		e.serial = strings.ToUpper(string(appendHexKey(nil, r.next(), 10)))

		// Health: mostly good, some suspicious or bad; bad devices may be isolated.
		e.health, e.threats, e.services = "good", "good", "good"
		switch v := r.intn(100); {
		case i == 2 || v < 8:
			e.health, e.services = "bad", "bad"
		case i == 1 || v < 22:
			e.health, e.threats = "suspicious", "suspicious"
		case v < 26:
			e.health, e.threats, e.services = "unknown", "unknown", "unknown"
		}
		names := serviceNames
		switch a.platform {
		case "macOS":
			names = macServiceNames
		case "linux":
			names = linuxServiceNames
		}
		for j, n := range names {
			st := "running"
			if e.services == "bad" && j == len(names)-1 {
				st = "missing"
			} else if e.services == "bad" && j == 0 {
				st = "stopped"
			}
			e.svcDetails = append(e.svcDetails, serviceDetail{n, st})
		}
		e.products = []product{{"coreAgent", "2024.1.2.1", "installed"}, {"interceptX", "2024.1.1.3", "installed"}}
		if a.platform == "windows" {
			e.products = append(e.products, product{"endpointProtection", "10.8.11.4", "installed"})
			enc := "notInstalled"
			if a.kind == "computer" && r.chance(0.5) {
				enc = "installed"
			}
			e.products = append(e.products, product{"deviceEncryption", "2.0.105", enc})
		}
		if r.chance(0.15) {
			e.products = append(e.products, product{"mtr", "1.12.0", "installed"})
		}
		e.tamperSupported = true
		e.tamperEnabled = i != 2 && !r.chance(0.2)
		e.tamperPassword = string(appendHexKey(nil, r.next(), 16))
		e.online = i != 2 && !r.chance(0.2)
		e.lastSeenMs = startMs - int64(r.intn(3600_000))
		if !e.online {
			e.lastSeenMs -= int64(r.between(1, 72)) * 3600_000
		}
		e.lastAgentUpdateMs = startMs - int64(r.between(2, 240))*3600_000 - int64(r.intn(3600_000))
		if r.chance(0.7) {
			e.lastOsUpdateMs = startMs - int64(r.between(24, 600))*3600_000
		}
		switch a.platform {
		case "windows":
			vh, vl := uuidOf(r.next())
			st := "notEncrypted"
			if r.chance(0.5) {
				st = "encrypted"
			}
			e.volumes = []volume{{`\\?\Volume{` + uuidString(vh, vl) + `}\`, st}}
			e.encryption = st
		case "macOS":
			e.volumes = []volume{{"disk3s1", "encrypted"}}
			e.encryption = "encrypted"
		default:
			e.encryption = "notSupported"
		}
		if a.kind == "server" && a.platform == "windows" {
			e.lockdown = &lockdown{Status: "unlocked", UpdateStatus: "notInstalled"}
		}
		if a.name == "build-agent-%02d" {
			e.cloud = &cloud{Provider: "aws", InstanceID: "i-0" + string(appendHexKey(nil, r.next(), 16))}
		}
		if e.health == "bad" && (i == 2 || r.chance(0.5)) {
			e.isolated, e.adminIsolated = true, true
			e.iso = isolationSettings{Enabled: true, LastEnabledAt: isoString(startMs - int64(r.between(1, 20))*3600_000),
				LastEnabledBy: t.admin(), Comment: "Isolating " + e.hostname}
		}
		e.hostJ, e.sourceJ = esc(e.hostname), esc(e.source)
		eps = append(eps, e)
	}
	return eps
}

// endpointJSON is the full view of §6.2 in the sample's key order.
type endpointJSON struct {
	ID                        string          `json:"id"`
	Type                      string          `json:"type"`
	Tenant                    idOnly          `json:"tenant"`
	Hostname                  string          `json:"hostname"`
	Health                    *healthJSON     `json:"health,omitempty"`
	OS                        *osJSON         `json:"os,omitempty"`
	IPv4                      []string        `json:"ipv4Addresses,omitempty"`
	IPv6                      []string        `json:"ipv6Addresses,omitempty"`
	MAC                       []string        `json:"macAddresses,omitempty"`
	Group                     *groupJSON      `json:"group,omitempty"`
	AssociatedPerson          *personJSON     `json:"associatedPerson,omitempty"`
	TamperProtectionSupported *bool           `json:"tamperProtectionSupported,omitempty"`
	TamperProtectionEnabled   *bool           `json:"tamperProtectionEnabled,omitempty"`
	AssignedProducts          []product       `json:"assignedProducts,omitempty"`
	LastSeenAt                string          `json:"lastSeenAt,omitempty"`
	LastOsUpdateAt            string          `json:"lastOsUpdateAt,omitempty"`
	SerialNumber              string          `json:"serialNumber,omitempty"`
	Encryption                *encryptionJSON `json:"encryption,omitempty"`
	Online                    *bool           `json:"online,omitempty"`
	Isolation                 *isolationJSON  `json:"isolation,omitempty"`
	Lockdown                  *lockdown       `json:"lockdown,omitempty"`
	Cloud                     *cloud          `json:"cloud,omitempty"`
	Cloned                    *bool           `json:"cloned,omitempty"`
	LastAgentUpdateAt         string          `json:"lastAgentUpdateAt,omitempty"`
}

type idOnly struct {
	ID string `json:"id"`
}

type healthJSON struct {
	Overall  string `json:"overall"`
	Threats  status `json:"threats"`
	Services struct {
		Status         string          `json:"status"`
		ServiceDetails []serviceDetail `json:"serviceDetails"`
	} `json:"services"`
}

type status struct {
	Status string `json:"status"`
}

type osJSON struct {
	IsServer     bool   `json:"isServer"`
	Platform     string `json:"platform"`
	Name         string `json:"name"`
	MajorVersion int    `json:"majorVersion"`
	MinorVersion int    `json:"minorVersion"`
	Build        int    `json:"build,omitempty"`
}

type groupJSON struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

type personJSON struct {
	Name     string `json:"name,omitempty"`
	ViaLogin string `json:"viaLogin,omitempty"`
	ID       string `json:"id,omitempty"`
}

type encryptionJSON struct {
	Volumes       []volume `json:"volumes"`
	OverallStatus string   `json:"overallStatus"`
}

type isolationJSON struct {
	Status        string `json:"status"`
	AdminIsolated bool   `json:"adminIsolated"`
	SelfIsolated  bool   `json:"selfIsolated"`
}

// view renders the endpoint in view basic, summary or full. The caller
// holds the tenant lock.
func (e *endpoint) view(tenantID, view string) endpointJSON {
	j := endpointJSON{ID: e.id, Type: e.kind, Tenant: idOnly{tenantID}, Hostname: e.hostname}
	if view == "basic" {
		return j
	}
	h := &healthJSON{Overall: e.health, Threats: status{e.threats}}
	h.Services.Status = e.services
	h.Services.ServiceDetails = e.svcDetails
	j.Health = h
	j.OS = &osJSON{IsServer: e.kind == "server", Platform: e.platform, Name: e.osName, MajorVersion: e.major, MinorVersion: e.minor, Build: e.build}
	j.IPv4 = []string{e.ipv4}
	j.IPv6 = []string{}
	if e.ipv6 != "" {
		j.IPv6 = []string{e.ipv6}
	}
	j.MAC = []string{e.mac}
	j.Group = &groupJSON{e.group, e.groupID}
	j.AssociatedPerson = &personJSON{Name: e.personName, ViaLogin: e.viaLogin, ID: e.personID}
	j.TamperProtectionSupported = &e.tamperSupported
	tp := e.tamperEnabled
	j.TamperProtectionEnabled = &tp
	j.AssignedProducts = e.products
	j.LastSeenAt = isoString(e.lastSeenMs)
	on := e.online
	j.Online = &on
	st := "notIsolated"
	if e.isolated {
		st = "isolated"
	}
	j.Isolation = &isolationJSON{st, e.adminIsolated, e.selfIsolated}
	if view == "summary" {
		return j
	}
	if e.lastOsUpdateMs != 0 {
		j.LastOsUpdateAt = isoString(e.lastOsUpdateMs)
	}
	j.SerialNumber = e.serial
	vols := e.volumes
	if vols == nil {
		vols = []volume{}
	}
	j.Encryption = &encryptionJSON{vols, e.encryption}
	j.Lockdown = e.lockdown
	j.Cloud = e.cloud
	f := e.cloned
	j.Cloned = &f
	j.LastAgentUpdateAt = isoString(e.lastAgentUpdateMs)
	return j
}
