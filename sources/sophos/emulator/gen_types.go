package emulator

import "strings"

// evKind selects how an item's specific fields and text are rendered.
type evKind int

const (
	kDetected evKind = iota
	kCleanedUp
	kCleanupFailed
	kPuaDetected
	kPuaCleanupFailed
	kIPS
	kAMSI
	kCryptoGuard
	kUpdateSuccess
	kUpdateFailure
	kOutOfDate
	kWebControl
	kWebFiltering
	kAppAllowed
	kServiceNotRunning
	kCompliant
	kNonCompliant
	kDeviceAlerted
	kScanComplete
	kUserAutoCreated
)

// evType is one event/alert type with its Common API attributes and its
// weights among plain events and among alerts.
type evType struct {
	kind       evKind
	typ        string
	group      string
	sev        []string
	category   string
	actions    []string
	policyType int
	winOnly    bool
	eventW     int // weight among events that are not alerts
	alertW     int // weight among alerts
}

var evTypes = []evType{
	{kDetected, "Event::Endpoint::Threat::Detected", "MALWARE", []string{"medium", "high"}, "malware", []string{"acknowledge", "clearThreat"}, 16, false, 5, 4},
	{kCleanedUp, "Event::Endpoint::Threat::CleanedUp", "MALWARE", []string{"low"}, "malware", []string{"acknowledge"}, 16, false, 10, 0},
	{kCleanupFailed, "Event::Endpoint::Threat::CleanupFailed", "MALWARE", []string{"high"}, "malware", []string{"clearThreat"}, 16, false, 1, 3},
	{kPuaDetected, "Event::Endpoint::Threat::PuaDetected", "PUA", []string{"medium"}, "pua", []string{"acknowledge", "cleanPua", "authPua"}, 30, false, 3, 3},
	{kPuaCleanupFailed, "Event::Endpoint::Threat::PuaCleanupFailed", "PUA", []string{"medium"}, "pua", []string{"acknowledge", "cleanPua"}, 30, false, 1, 3},
	{kIPS, "Event::Endpoint::Threat::IpsInboundDetection", "RUNTIME_DETECTIONS", []string{"low", "medium"}, "runtimeDetections", []string{"acknowledge"}, 26, true, 28, 3},
	{kAMSI, "Event::Endpoint::CoreAmsiBlocked", "RUNTIME_DETECTIONS", []string{"high"}, "runtimeDetections", []string{"acknowledge"}, 32, true, 7, 2},
	{kCryptoGuard, "Event::Endpoint::HmpaCryptoGuard", "RUNTIME_DETECTIONS", []string{"high"}, "runtimeDetections", []string{"acknowledge", "clearHmpa"}, 32, true, 0, 2},
	{kUpdateSuccess, "Event::Endpoint::UpdateSuccess", "UPDATING", []string{"low"}, "updating", []string{"acknowledge"}, 0, false, 8, 0},
	{kUpdateFailure, "Event::Endpoint::UpdateFailure", "UPDATING", []string{"medium"}, "updating", []string{"acknowledge"}, 0, false, 3, 1},
	{kOutOfDate, "Event::Endpoint::OutOfDate", "UPDATING", []string{"medium"}, "updating", []string{"acknowledge"}, 513, false, 1, 2},
	{kWebControl, "Event::Endpoint::WebControlViolation", "WEB", []string{"low"}, "policy", []string{"acknowledge"}, 0, false, 6, 0},
	{kWebFiltering, "Event::Endpoint::WebFilteringBlocked", "WEB", []string{"low", "medium"}, "security", []string{"acknowledge"}, 0, false, 3, 0},
	{kAppAllowed, "Event::Endpoint::Application::Allowed", "APPLICATION_CONTROL", []string{"low"}, "applicationControl", []string{"acknowledge"}, 0, false, 6, 0},
	{kServiceNotRunning, "Event::Endpoint::ServiceNotRunning", "PROTECTION", []string{"medium"}, "protection", []string{"acknowledge"}, 528, false, 1, 3},
	{kCompliant, "Event::Endpoint::Compliant", "POLICY", []string{"low"}, "policy", []string{"acknowledge"}, 0, false, 2, 0},
	{kNonCompliant, "Event::Endpoint::NonCompliant", "POLICY", []string{"medium"}, "policy", []string{"acknowledge"}, 0, false, 2, 1},
	{kDeviceAlerted, "Event::Endpoint::Device::AlertedOnly", "PERIPHERALS", []string{"low"}, "policy", []string{"acknowledge"}, 0, false, 3, 0},
	{kScanComplete, "Event::Endpoint::SavScanComplete", "PROTECTION", []string{"low"}, "protection", []string{"acknowledge"}, 0, false, 4, 0},
	{kUserAutoCreated, "Event::Endpoint::UserAutoCreated", "PROTECTION", []string{"low"}, "protection", []string{"acknowledge"}, 0, false, 2, 0},
}

var (
	eventWeights, alertWeights []int
	eventTotal, alertTotal     int
	eventIdx, alertIdx         []int // evTypes index per weight slot
)

// pathT is a pre-escaped path template; {u} is replaced by the login.
type pathT struct {
	pre, post string
	user      bool
}

func splitPaths(ps []string) []pathT {
	out := make([]pathT, len(ps))
	for i, p := range ps {
		pre, post, ok := strings.Cut(p, "{u}")
		out[i] = pathT{esc(pre), esc(post), ok}
	}
	return out
}

func escAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = esc(s)
	}
	return out
}

var (
	winPathsJ, macPathsJ, linuxPathsJ []pathT
	malwareJ, puaJ, urlJ, catJ        []string
	updFailJ, nonCompJ                []string
)

func init() {
	for i, t := range evTypes {
		if t.eventW > 0 {
			eventWeights = append(eventWeights, t.eventW)
			eventIdx = append(eventIdx, i)
			eventTotal += t.eventW
		}
		if t.alertW > 0 {
			alertWeights = append(alertWeights, t.alertW)
			alertIdx = append(alertIdx, i)
			alertTotal += t.alertW
		}
	}
	winPathsJ, macPathsJ, linuxPathsJ = splitPaths(winPaths), splitPaths(macPaths), splitPaths(linuxPaths)
	malwareJ, puaJ, urlJ, catJ = escAll(malwareNames), escAll(puaNames), escAll(webURLs), escAll(webCategories)
	updFailJ, nonCompJ = escAll(updateFailures), escAll(nonCompliance)
	for i := range ipsExecutables {
		ipsExecutables[i].path = esc(ipsExecutables[i].path)
	}
	for i := range amsiProcesses {
		amsiProcesses[i].path = esc(amsiProcesses[i].path)
		amsiProcesses[i].parent = esc(amsiProcesses[i].parent)
	}
	for i := range controlledApps {
		controlledApps[i].name = esc(controlledApps[i].name)
		controlledApps[i].signer = esc(controlledApps[i].signer)
	}
	for i := range devices {
		devices[i].name = esc(devices[i].name)
	}
	cgPathsJ = make([]pathT, len(cryptoguardProcesses))
	for i, c := range cryptoguardProcesses {
		cgPathsJ[i] = splitPaths([]string{c.path})[0]
		cryptoguardProcesses[i].name = esc(c.name)
	}
}

var cgPathsJ []pathT
