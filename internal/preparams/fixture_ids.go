package preparams

// testFixtureIDs are the IDs (Set.ID: a hash of the Paillier modulus) of
// every TEST-ONLY set in testdata/preparams. Their primes are public, so a
// key made with one is open to whoever reads the repository: the device's
// pool refuses them outside test builds (party.Pool). TestFixtureIDsAreListed
// keeps this list in step with the files.
var testFixtureIDs = map[string]struct{}{
	"f21b0d218578150cebd334e9c6b123fb": {}, // TEST-ONLY-set-1.json
	"70f75684e362821a14c8cd32af8e4020": {}, // TEST-ONLY-set-1.json
	"b6869ac6753df53074b529b580eed51c": {}, // TEST-ONLY-set-1.json
	"20531b826721a35b2543452be359d093": {}, // TEST-ONLY-set-2.json
	"fb71ae386087581ca1caf696933fa200": {}, // TEST-ONLY-set-2.json
	"57c5f72e96bea683a72db6bb259d6f67": {}, // TEST-ONLY-set-2.json
	"e246265aff4e6d844bc803fe3a45464d": {}, // TEST-ONLY-set-3.json
	"4529e6a9325ed8cd6111dcfe4cee8225": {}, // TEST-ONLY-set-3.json
	"901af875e9f7e0d0014bcd7390f0df11": {}, // TEST-ONLY-set-3.json
	"c8a78af25444ba96cedcead7f65333c1": {}, // TEST-ONLY-set-4.json
	"1fda611e3193e1dc6f0dda0b57e6c5a7": {}, // TEST-ONLY-set-4.json
	"7e88924ec33d50fdab4ee2f1ecd6cb52": {}, // TEST-ONLY-set-4.json
	"3ae3deb71309e209d5e9eee5f4f73e0a": {}, // TEST-ONLY-set-5.json
	"504258bab52b0dab55bd11443d6fae8d": {}, // TEST-ONLY-set-5.json
	"7208b1c62175ea10b7263b30673c8629": {}, // TEST-ONLY-set-5.json
	"6da25b042b36e230352bcc984295056c": {}, // TEST-ONLY-set-5.json
	"15c6741d291e8b0c4751ccfe9b8a5757": {}, // TEST-ONLY-set-5.json
	"143852a35e3061e520253c031909fe95": {}, // TEST-ONLY-set-5.json
	"e0782e992a4224f1e50fbfc3f492e707": {}, // TEST-ONLY-set-5.json
	"217cddb19842ad64f53a49bbbcaf8795": {}, // TEST-ONLY-set-6.json
	"3dedc330d4fa3482c9bce3e6eae97367": {}, // TEST-ONLY-set-6.json
	"a6b64f59cfca4354c02759faf98c84b9": {}, // TEST-ONLY-set-6.json
	"aae684b82f6391ad883bb50096e7e989": {}, // TEST-ONLY-set-6.json
	"b0246018297cf86ca06f8458c95a5b8f": {}, // TEST-ONLY-set-6.json
	"7a5b7ee0d7f7cd3342ac22ec4feaceae": {}, // TEST-ONLY-set-6.json
	"fadd80101ed5bb01c2e05ff0e351f926": {}, // TEST-ONLY-set-6.json
	"a4df569f5ff1c117202f310dc17cece7": {}, // TEST-ONLY-set-7.json
	"5ad7d400c43b15243be6aecd34ea9146": {}, // TEST-ONLY-set-7.json
	"b046221ab6c7a6dc0dfefa5260c64fe4": {}, // TEST-ONLY-set-7.json
	"3a8e2ee9eb5a028e9623fd3b10026531": {}, // TEST-ONLY-set-7.json
	"7204e9e06939fb9a8af76f2625a352d5": {}, // TEST-ONLY-set-7.json
	"690025a3424d2b07e914413e162795ac": {}, // TEST-ONLY-set-7.json
	"32ec4f037e6669397a873a372866a481": {}, // TEST-ONLY-set-7.json
}

// IsTestFixture reports whether s is one of the repository's TEST-ONLY sets.
func IsTestFixture(s *Set) bool {
	_, ok := testFixtureIDs[s.ID()]
	return ok
}
