//! borel-optim: optimizers.
