// Package replicas lets clients and devices reach whichever of several
// coordinator replicas is the active one. Replicas share one database and
// one TLS identity; one holds the leader lease and serves, the others are
// standbys that answer the health service NOT_SERVING and refuse every other
// call with Unavailable, naming the active replica's address in the status's
// details (WithActiveAddress, ActiveAddress).
//
// An address list is comma-separated ("a:7400,b:7400,c:7400"), as
// pairing codes, client.json and the --coordinator flags carry it. A client
// dialling several addresses (Target) uses gRPC's client-side health
// checking: its calls go only to the replica whose health service says
// SERVING, and move by themselves when another one takes over.
package replicas

import (
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/health" // client-side health checking, for Target's balancing
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

// Split is the addresses of a comma-separated list, without blanks.
func Split(list string) []string {
	var out []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Join is the comma-separated list of addrs.
func Join(addrs []string) string { return strings.Join(addrs, ",") }

// serviceConfig balances over the replicas that report SERVING for the
// whole coordinator (the health service's "" name): the active one.
const serviceConfig = `{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}`

// Target is the gRPC target and dial options for a comma-separated address
// list. One address is dialled as it is; several are all connected, and
// calls go to the one whose health service says SERVING.
func Target(list string) (string, []grpc.DialOption, error) {
	addrs := Split(list)
	switch len(addrs) {
	case 0:
		return "", nil, errors.New("no coordinator address")
	case 1:
		return addrs[0], nil, nil
	}
	r := manual.NewBuilderWithScheme("mpcsign-replicas")
	state := resolver.State{}
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	return r.Scheme() + ":///coordinator", []grpc.DialOption{grpc.WithResolvers(r), grpc.WithDefaultServiceConfig(serviceConfig)}, nil
}

const (
	reasonStandby = "COORDINATOR_STANDBY"
	domain        = "mpcsign"
	activeKey     = "active_address"
)

// WithActiveAddress adds to st the details that say it comes from a standby
// replica, and the active one's address when known ("" when none is).
func WithActiveAddress(st *status.Status, active string) *status.Status {
	info := &errdetails.ErrorInfo{Reason: reasonStandby, Domain: domain}
	if active != "" {
		info.Metadata = map[string]string{activeKey: active}
	}
	if with, err := st.WithDetails(info); err == nil {
		return with
	}
	return st
}

// ActiveAddress reads err's details: standby is true when a standby
// replica refused the call, and active is the address it named ("" when
// no replica was active).
func ActiveAddress(err error) (active string, standby bool) {
	st, ok := status.FromError(err)
	if !ok {
		return "", false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == reasonStandby && info.GetDomain() == domain {
			return info.GetMetadata()[activeKey], true
		}
	}
	return "", false
}
