package seal

// testKDF keeps Argon2id cheap so the suite stays fast.
var testKDF = KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

func testPass() Passphrase { return NewPassphrase([]byte("correct horse battery staple")) }
