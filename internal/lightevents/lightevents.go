// Package lightevents is the official script's light list: the noisy event
// types its -l/--light option leaves out. The Sophos source sends them as
// exclude_types (light: true) and the filter stage's light key drops them;
// both read this one list, so a light source and a light filter agree
// without the filter importing the source.
package lightevents

// Types are the nine event types, in the official script's order
// (reference §4.3). They apply to events only.
var Types = []string{
	"Event::Endpoint::NonCompliant",
	"Event::Endpoint::Compliant",
	"Event::Endpoint::Device::AlertedOnly",
	"Event::Endpoint::UpdateFailure",
	"Event::Endpoint::SavScanComplete",
	"Event::Endpoint::Application::Allowed",
	"Event::Endpoint::UpdateSuccess",
	"Event::Endpoint::WebControlViolation",
	"Event::Endpoint::WebFilteringBlocked",
}
