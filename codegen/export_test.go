package codegen

// Reserved is reserved, for the external tests.
var Reserved = reserved
