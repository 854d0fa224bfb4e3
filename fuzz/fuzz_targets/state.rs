//! State loading: arbitrary bytes as `state/dev.json`, loaded by the local backend. Either a
//! state that survives a round trip through its stored form, or a refusal — and then a save
//! is refused too and leaves the file byte for byte as it was.
#![no_main]

use kprov::state::{LocalBackend, State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = LocalBackend::for_env(dir.path(), "dev");
    std::fs::write(b.path(), data).expect("write");
    match b.load() {
        Ok(Some(state)) => {
            let again = kprov::state::local::parse("copy", &state.to_json()).expect("a loaded state re-parses");
            assert_eq!(again, state, "the stored form round-trips");
            // The successor of what was read is accepted (no overflow, no refusal).
            let mut next = state.clone();
            if let Some(serial) = state.serial.checked_add(1) {
                next.serial = serial;
                b.save(&next).expect("saving the successor of the loaded state");
            }
        }
        Ok(None) => panic!("the file exists"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            let mut s = State::new("fz", "dev");
            s.serial = 1;
            assert!(b.save(&s).is_err(), "a save over an unreadable state is refused");
            assert!(b.import(&s).is_err(), "an import over an unreadable state is refused");
            let after = std::fs::read(b.path()).expect("read back");
            assert_eq!(after, data, "the refused state file is left untouched");
        }
    }
});
