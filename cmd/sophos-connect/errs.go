package main

import (
	"errors"

	"github.com/sophos-connect/sophos-connect/config"
)

func asErrors(err error, l *config.Errors) bool { return errors.As(err, l) }
