//! Dumps (in progress).
