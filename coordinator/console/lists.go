package console

import (
	"sort"

	"github.com/mpcsign/mpcsign/internal/pagelist"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// listPage is the page size the console asks for: the coordinator's
// largest. The Devices, Keys and Revoke pages show (or search) every
// device and key, so they read every page; the Sessions page shows one
// page at a time.
const listPage = 1000

// listDevices lists every device, by name.
func (c *Console) listDevices(q *request) ([]*mpcv1.Device, error) {
	devs, err := pagelist.All(0, func(token string) ([]*mpcv1.Device, string, error) {
		resp, err := c.coord.ListDevices(q.ctx, &mpcv1.ListDevicesRequest{PageSize: listPage, PageToken: token})
		return resp.GetDevices(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return nil, c.adminError("ListDevices", err)
	}
	sort.SliceStable(devs, func(i, j int) bool { return devs[i].GetName() < devs[j].GetName() })
	return devs, nil
}

// listKeys lists every key, in id order.
func (c *Console) listKeys(q *request) ([]*mpcv1.Key, error) {
	keys, err := pagelist.All(0, func(token string) ([]*mpcv1.Key, string, error) {
		resp, err := c.coord.ListKeys(q.ctx, &mpcv1.ListKeysRequest{PageSize: listPage, PageToken: token})
		return resp.GetKeys(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return nil, c.adminError("ListKeys", err)
	}
	return keys, nil
}
