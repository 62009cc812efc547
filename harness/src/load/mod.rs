//! Load against inference Services: a port-forward that spreads like a
//! Service ([`forwarder`]), goose driving users ([`attack`]), and the
//! numbers reports show ([`stats`]), with goose's own log kept to what a
//! person needs ([`goose_log`]).

pub mod attack;
pub mod forwarder;
pub mod goose_log;
pub mod stats;
