//go:build !windows

package winservice

import (
	"context"
	"io"
	"time"
)

func Install(Spec) (bool, error)                                { return false, ErrNotWindows }
func Uninstall(string) error                                    { return ErrNotWindows }
func Start(string) (bool, error)                                { return false, ErrNotWindows }
func Stop(string, time.Duration) error                          { return ErrNotWindows }
func Running() bool                                             { return false } // only Windows starts the binary as a service
func Run(string, func(context.Context, io.Writer) int, int) int { return 1 }
