package blame

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// The public key data survives its encoding, equal data encodes to equal
// bytes, and no secret of the save data goes into it.
func TestKeyPublicRoundTrip(t *testing.T) {
	const n = 3
	d := keygen.NewLocalPartySaveData(n)
	for i := range n {
		v := big.NewInt(int64(1000 + i))
		d.Ks[i], d.NTildej[i], d.H1j[i], d.H2j[i] = v, new(big.Int).Add(v, big.NewInt(1)), new(big.Int).Add(v, big.NewInt(2)), new(big.Int).Add(v, big.NewInt(3))
		d.PaillierPKs[i] = &paillier.PublicKey{N: new(big.Int).Add(v, big.NewInt(4))}
		d.BigXj[i] = crypto.ScalarBaseMult(tss.S256(), big.NewInt(int64(7+i)))
	}
	d.ECDSAPub = crypto.ScalarBaseMult(tss.S256(), big.NewInt(99))
	secret := new(big.Int).Lsh(big.NewInt(0x5ec2e7), 200)
	d.Xi = secret
	p, err := PublicOf(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(secret.String())) {
		t.Fatal("the encoding carries the share")
	}
	again, _ := p.Marshal()
	if !bytes.Equal(b, again) {
		t.Fatal("the encoding is not deterministic")
	}
	back, err := UnmarshalKeyPublic(b)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := back.SaveData()
	if err != nil {
		t.Fatal(err)
	}
	if sd.Xi != nil || sd.PaillierSK != nil || sd.ECDSAPub.X().Cmp(d.ECDSAPub.X()) != 0 || sd.BigXj[2].Y().Cmp(d.BigXj[2].Y()) != 0 ||
		sd.PaillierPKs[1].N.Cmp(d.PaillierPKs[1].N) != 0 || sd.H2j[0].Cmp(d.H2j[0]) != 0 {
		t.Fatal("the round trip lost or added data")
	}
	d.BigXj = d.BigXj[:2]
	if _, err := PublicOf(d); err == nil {
		t.Fatal("incomplete key data accepted")
	}
	if _, err := UnmarshalKeyPublic(bytes.Repeat([]byte(" "), MaxKeyPublic+1)); err == nil {
		t.Fatal("oversized key data accepted")
	}
}

// A device's reported key data is untrusted bytes: decoding and turning it
// into save data never panics.
func FuzzKeyPublic(f *testing.F) {
	f.Add([]byte(`{"ks":[1,2],"paillier_n":[3,4],"ntilde":[5,6],"h1":[7,8],"h2":[9,10],"big_xj":[[1,2],[3,4]],"ecdsa_pub":[5,6]}`))
	f.Add([]byte(`{"ks":[1],"big_xj":[null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalKeyPublic(b)
		if err != nil {
			return
		}
		_, _ = p.SaveData()
	})
}
