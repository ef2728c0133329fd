package registry

import "errors"

// ErrFenced is a write refused because this process no longer holds the
// leader lease of a store shared by several coordinators: another replica
// took it, and only the lease holder writes (the fencing token check).
var ErrFenced = errors.New("registry: this coordinator no longer holds the leader lease; another replica is active, and only it writes")
