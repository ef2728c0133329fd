package sigfmt

// MaxMessage is the longest message an Ed25519 signature of the service may
// cover: the message travels to every signing device in the session's start
// and is bound into the session's parameters.
const MaxMessage = 64 << 10

// MaxBatch is the most items one Sign call may carry.
const MaxBatch = 64

// MaxSignRequest bounds one request on the wire: the largest batch allowed
// (MaxBatch messages of MaxMessage bytes, 4 MiB) plus 1 MiB for the framing,
// the key id, the path and the request id. The coordinator's gRPC server
// receives, and mpcctl sends, up to this many bytes.
const MaxSignRequest = MaxBatch*MaxMessage + 1<<20
