// Package contract is the one definition of what pushbench's two sides say to
// each other: the names of transports, implementations' keys, faults and
// scenario kinds, the /control parameters and answers, and the /stats
// answer. The servers, the load generator, the runner and the report all
// import it; none of them declares these again. docs/contract.md is the same
// contract for people writing a server in another language.
//
// The events themselves, their canonical encoding and the gap signal, are
// package event's.
package contract

// Version is the contract's version, as docs/contract.md numbers it and
// /stats reports it.
const Version = 1
