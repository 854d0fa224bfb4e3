//! AWS providers: SDK configuration, error classification, one folder per service.
//! (Being written.)
