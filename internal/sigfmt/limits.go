package sigfmt

// MaxMessage is the longest message an Ed25519 signature of the service may
// cover: the message travels to every signing device in the session's start
// and is bound into the session's parameters.
const MaxMessage = 64 << 10
