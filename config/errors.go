package config

import (
	"errors"

	"gopkg.in/yaml.v3"
)

func asTypeError(err error, te **yaml.TypeError) bool { return errors.As(err, te) }
func asFieldError(err error, fe **FieldError) bool    { return errors.As(err, fe) }
func asErrors(err error, l *Errors) bool              { return errors.As(err, l) }
