import Indexing

// Builds an index of 20,000 nodes of 1 KiB each (about 21 MiB with the objects), then a buffer of 32 MiB: a program
// with a known peak for `swift package mprof run indexer`.
let index = buildIndex(count: 20_000, payloadBytes: 1024)
let buffer = filledBuffer(bytes: 32 << 20)
print("indexed \(index.count) nodes; buffer of \(buffer.count >> 20) MiB")
