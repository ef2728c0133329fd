// Command mpcctl is the operator and wallet CLI of the MPC signing service:
// a client of the coordinator only (the demo is cmd/mpcdemo, the load
// generator cmd/mpcload).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/mpcsign/mpcsign/internal/cli"
)

func main() {
	err := cli.Execute(newRootCmd())
	if moved, ok := errors.AsType[movedError](err); ok {
		fmt.Fprintln(os.Stderr, "mpcctl:", moved)
		os.Exit(exitMoved)
	}
	if code, ok := errors.AsType[exitCode](err); ok {
		os.Exit(int(code)) // a forwarded command's failure, which it reported
	}
	cli.Exit("mpcctl", err)
}
