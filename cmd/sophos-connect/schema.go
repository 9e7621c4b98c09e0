package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/sophos-connect/sophos-connect/schema"
)

// schemaCmd prints the JSON Schema of the config file.
func schemaCmd() *command {
	return &command{
		Name: "schema", Short: "print the config file's JSON Schema (draft 2020-12), for editors",
		Example: "sophos-connect schema > sophos-connect.schema.json",
		Setup: func(fs *flag.FlagSet) runFunc {
			return func(a *app, ctx context.Context, g *globals, args []string) error {
				if len(args) > 0 {
					return usageError{fmt.Sprintf("schema: unexpected argument %q", args[0])}
				}
				return a.printSchema()
			}
		},
	}
}

func (a *app) printSchema() error {
	b, err := schema.JSON()
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(b)
	return err
}
