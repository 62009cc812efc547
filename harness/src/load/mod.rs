//! Load against inference Services: a port-forward that spreads like a
//! Service ([`forwarder`]), goose driving users ([`attack`]), and the
//! numbers reports show ([`stats`]).

pub mod attack;
pub mod forwarder;
pub mod stats;
