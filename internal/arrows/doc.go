// Package arrows holds no code: its test checks the import arrows the
// architecture forbids (README, Architecture), so a shortcut between two
// packages that should not know each other fails a test instead of
// growing back unnoticed.
package arrows
