// Package sophostest starts the emulator with a client and a SIEM source on
// it, for tests of components that run behind the source (sinks, stages,
// auto-acknowledge) against the real pipeline.
package sophostest

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// Start serves an emulator with o and returns it with a client and a
// source for streams; all are closed when the test ends.
func Start(t testing.TB, o emulator.Options, streams ...pipeline.Stream) (*emulator.Server, *sophos.Client, *sophos.Source) {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = "sophostest-client", "sophostest-secret"
	}
	emu, err := emulator.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	client, err := sophos.NewClient(sophos.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, AuthURL: emu.AuthURL(), APIHost: emu.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	src, err := sophos.NewSource(client, sophos.SourceOptions{Streams: streams})
	if err != nil {
		t.Fatal(err)
	}
	return emu, client, src
}
