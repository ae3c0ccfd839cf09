// Command herald runs a Herald node and talks to one: see herald --help.
package main

import (
	"os"

	"github.com/heraldrt/herald/internal/cli"
)

func main() {
	os.Exit(cli.Execute())
}
