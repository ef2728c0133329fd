package adminview

import (
	"context"
	"sort"

	"github.com/mpcsign/mpcsign/internal/pagelist"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// pageSize is the page the listings below ask for: the coordinator's
// largest.
const pageSize = 1000

// Devices lists every device, page after page, by name (a revoked device
// and its successor under one name in id order).
func Devices(ctx context.Context, c mpcv1.AdminServiceClient) ([]*mpcv1.Device, error) {
	devs, err := pagelist.All(0, func(token string) ([]*mpcv1.Device, string, error) {
		resp, err := c.ListDevices(ctx, &mpcv1.ListDevicesRequest{PageSize: pageSize, PageToken: token})
		return resp.GetDevices(), resp.GetNextPageToken(), err
	})
	sort.SliceStable(devs, func(i, j int) bool { return devs[i].GetName() < devs[j].GetName() })
	return devs, err
}

// Keys lists the keys in id order, page after page: every key, or the
// first limit when limit is above 0.
func Keys(ctx context.Context, c mpcv1.AdminServiceClient, limit int) ([]*mpcv1.Key, error) {
	return pagelist.All(limit, func(token string) ([]*mpcv1.Key, string, error) {
		size := int32(pageSize)
		if limit > 0 {
			size = int32(min(limit, pageSize))
		}
		resp, err := c.ListKeys(ctx, &mpcv1.ListKeysRequest{PageSize: size, PageToken: token})
		return resp.GetKeys(), resp.GetNextPageToken(), err
	})
}
