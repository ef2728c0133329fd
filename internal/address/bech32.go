package address

// Bech32 encoding (BIP173), encoder only: the service writes addresses, it
// never reads them. Segwit version 0 uses bech32; versions 1 and up use
// bech32m (BIP350), which is not implemented here.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32Polymod is BIP173's checksum function over 5-bit values.
func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

// bech32Encode returns hrp || "1" || data || checksum for a lower-case hrp
// and 5-bit data values.
func bech32Encode(hrp string, data []byte) string {
	values := make([]byte, 0, 2*len(hrp)+1+len(data)+6)
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]>>5)
	}
	values = append(values, 0)
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]&31)
	}
	values = append(values, data...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	pm := bech32Polymod(values) ^ 1

	out := make([]byte, 0, len(hrp)+1+len(data)+6)
	out = append(out, hrp...)
	out = append(out, '1')
	for _, d := range data {
		out = append(out, bech32Charset[d&31])
	}
	for i := 0; i < 6; i++ {
		out = append(out, bech32Charset[(pm>>(5*(5-i)))&31])
	}
	return string(out)
}

// to5Bits regroups bytes into 5-bit values, the last one zero-padded.
func to5Bits(b []byte) []byte {
	out := make([]byte, 0, (len(b)*8+4)/5)
	var acc uint32
	var bits uint
	for _, v := range b {
		acc = acc<<8 | uint32(v)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, byte(acc>>bits)&31)
		}
	}
	if bits > 0 {
		out = append(out, byte(acc<<(5-bits))&31)
	}
	return out
}

// segwitV0 is the bech32 address of a version-0 witness program (20 bytes
// for P2WPKH, 32 for P2WSH).
func segwitV0(hrp string, program []byte) string {
	return bech32Encode(hrp, append([]byte{0}, to5Bits(program)...))
}
