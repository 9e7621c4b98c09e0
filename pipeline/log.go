package pipeline

import "log/slog"

// The seed's five log levels on top of log/slog: OFF, ERROR, INFO (alias
// LOG), LOG+ and VERBOSE. LOG+ and VERBOSE sit below slog's Info.
const (
	LevelError   = slog.LevelError
	LevelInfo    = slog.LevelInfo
	LevelLogPlus = slog.Level(-2)
	LevelVerbose = slog.Level(-6)
	// LevelOff is above every level used, so nothing is written.
	LevelOff = slog.Level(100)
)
