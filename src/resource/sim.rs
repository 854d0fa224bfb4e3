//! The simulated cloud. (Being written.)
