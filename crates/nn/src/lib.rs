//! borel-nn: modules on the tape.
