package compile

// Version is mlc's version, recorded in checkpoints.
const Version = "0.1.0-dev"
