package main

import (
	"context"

	"github.com/sophos-connect/sophos-connect/schema"
)

// cmdSchema prints the JSON Schema of the config file.
func (a *app) cmdSchema(_ context.Context, g *globals, args []string) error {
	if _, err := subFlags("schema", g, args, nil); err != nil {
		return err
	}
	b, err := schema.JSON()
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(b)
	return err
}
