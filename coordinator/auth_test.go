package coordinator

import (
	"slices"
	"testing"

	"google.golang.org/grpc"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Every RPC needs an entry in the role table (or to be public on purpose):
// a new method that nobody listed is refused, but this says so at once.
func TestEveryMethodHasARole(t *testing.T) {
	for _, sd := range []grpc.ServiceDesc{mpcv1.AdminService_ServiceDesc, mpcv1.SignerService_ServiceDesc} {
		for _, m := range sd.Methods {
			full := "/" + sd.ServiceName + "/" + m.MethodName
			roles, ok := methodRoles[full]
			if !ok || !slices.Contains(roles, RoleAdmin) {
				t.Errorf("%s has no role entry", full)
			}
			if sd.ServiceName == mpcv1.AdminService_ServiceDesc.ServiceName && slices.Contains(roles, RoleSigner) {
				t.Errorf("%s lets signer tokens in", full)
			}
		}
	}
	for _, s := range mpcv1.PartyLinkService_ServiceDesc.Streams {
		if !publicMethods["/"+mpcv1.PartyLinkService_ServiceDesc.ServiceName+"/"+s.StreamName] {
			t.Errorf("device link stream %s is not public", s.StreamName)
		}
	}
}
