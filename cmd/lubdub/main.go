// Command lubdub is a high-availability cluster daemon, a drop-in
// successor to Linux-HA Heartbeat. See internal/cli for its commands.
package main

import (
	"context"
	"os"

	"github.com/lubdub/lubdub/internal/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args, os.Stdout, os.Stderr))
}
